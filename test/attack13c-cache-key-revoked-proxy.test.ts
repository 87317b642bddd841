// Attack (cache key, crash): the last round made every Proxy Uncacheable, tested with
// util.types.isProxy. But where the key walks a declared fact path (walk) and where it checks the
// leaf (isBareCertificate), `x instanceof X509Certificate` runs before the Proxy test, and on a
// revoked Proxy `instanceof` throws a TypeError ("Cannot perform 'getPrototypeOf' on a proxy that
// has been revoked"). defaultCacheKey rethrows anything but Uncacheable, so the cached policy's
// evaluate() rejects even when the policy never reads that value.
// A correct library tests for a Proxy before any other operation on a value (isProxy does not
// trap), so a revoked Proxy is Uncacheable like any other, and the policy decides uncached.
// Attack class: cache key soundness (9) / a crash out of the key.
import t from 'tap';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

async function outcome(p: unknown): Promise<unknown> {
  try {
    return await p;
  } catch (err) {
    return `threw: ${(err as Error).message}`;
  }
}

t.test('a revoked Proxy on a declared fact path keys as Uncacheable, not a TypeError', async (t) => {
  const policy = cached(
    Object.assign((_input: AuthorizationInput) => ({ allow: true }), { factsRead: ['context.user.role'] }),
    new DecisionCache(),
  );
  const input = certInput(certs.clientCert, 'GET', '/users/1', { context: { user: revoked() } });
  t.match(await outcome(policy.evaluate(input)), { allow: true }, 'the policy decides');
});

t.test('a revoked Proxy as the peer certificate keys as Uncacheable, not a TypeError', async (t) => {
  const policy = cached(
    Object.assign((_input: AuthorizationInput) => ({ allow: true }), { factsRead: ['request.path'] }),
    new DecisionCache(),
  );
  const input = certInput(certs.clientCert, 'GET', '/users/1');
  (input.peer as { certificate: unknown }).certificate = revoked();
  t.match(await outcome(policy.evaluate(input)), { allow: true }, 'the policy decides');
});
