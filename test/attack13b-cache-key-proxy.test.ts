// Attack (cache key soundness): the key refuses (Uncacheable) every value whose state it cannot
// see: a class instance, a getter on a prototype, a non-enumerable or symbol-keyed property, and
// since the last round a subclass or an annotated X509Certificate. A Proxy passes every one of
// those checks while answering a policy's reads from its handler: `instanceof`, the prototype and
// the own-key listing are its target's, but `grant.scope` (or any property) is whatever `get`
// says. Below, the same certificate wrapped with scope `admin` and with scope `read` gets one key
// (its fingerprint), and a plain object whose handler answers `role` keys as `{}`: the cached allow
// for the admin answers the reader.
// A correct library detects a Proxy (util.types.isProxy) anywhere it keys a value, and decides
// such an input uncached (Uncacheable), as it does for a subclass.
// Attack class: cache key soundness (9).
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

/** A certificate seen through a Proxy that adds a `scope` the policy reads. */
function grant(pem: string, scope: string): X509Certificate {
  return new Proxy(new X509Certificate(pem), {
    get: (target, name) => (name === 'scope' ? scope : Reflect.get(target, name)),
  });
}

t.test('a certificate behind a Proxy is not keyed by its fingerprint alone', async (t) => {
  const policy = cached(
    Object.assign(
      (input: AuthorizationInput) => (input.context as { grant: { scope: string } }).grant.scope === 'admin',
      { factsRead: ['context.grant'] },
    ),
    new DecisionCache(),
  );
  const withGrant = (scope: string) =>
    certInput(certs.clientCert, 'DELETE', '/users/1', { context: { grant: grant(certs.client2Cert, scope) } });
  t.match(await policy.evaluate(withGrant('admin')), { allow: true }, 'the admin grant is allowed');
  t.match(await policy.evaluate(withGrant('read')), { allow: false }, 'the read grant is not served the admin allow');
});

for (const facts of [['context.user'], null]) {
  t.test(`a plain object behind a Proxy is not keyed as {} (facts: ${JSON.stringify(facts)})`, async (t) => {
    const user = (role: string) => new Proxy({}, { get: (_target, name) => (name === 'role' ? role : undefined) });
    const policy = cached(
      Object.assign(
        (input: AuthorizationInput) => ({ allow: (input.context as { user: { role: string } }).user.role === 'admin' }),
        facts === null ? {} : { factsRead: () => facts },
      ),
      new DecisionCache(),
    );
    const admin = certInput(certs.clientCert, 'DELETE', '/users/7', { context: { user: user('admin') } });
    const guest = certInput(certs.clientCert, 'DELETE', '/users/7', { context: { user: user('guest') } });
    t.match(await policy.evaluate(admin), { allow: true }, 'the admin is allowed');
    t.match(await policy.evaluate(guest), { allow: false }, 'a guest is not served the admin allow');
  });
}
