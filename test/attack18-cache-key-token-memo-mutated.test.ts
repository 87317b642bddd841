// Attack (cache key, tokenKey): "A token's claims never change, so its key is computed once per
// claims object": tokenKeys memoizes sha256(enc(token)) in a WeakMap keyed by the claims object.
// Nothing makes that so: the library keeps the app's claims object by reference (attach's
// `token` option, an app-built input's `token`) and never freezes it. An app that narrows a
// connection's claims in place (drops a scope on a downgrade, replaces `sub` on a re-login) keeps
// the first claims' key: the cached allow made for the admin scope answers the narrowed token,
// which the policy denies.
//
// A correct library keys the claims as they are when the key is built (or refuses a claims object
// that can still change), so the narrowed token is asked of the policy and denied.
import t from 'tap';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

t.test('a claims object changed in place is not keyed as its first claims', async (t) => {
  let asked = 0;
  const policy = cached(
    Object.assign(
      (input: AuthorizationInput) => {
        asked++;
        return { allow: input.token?.['scope'] === 'admin', reason: 'scope', ttlMs: 60_000 };
      },
      { factsRead: () => ['request.method'] },
    ),
    new DecisionCache(),
  );
  const claims: Record<string, unknown> = { iss: 'https://idp.example', sub: 'alice', scope: 'admin' };
  t.match(await policy.evaluate(certInput(certs.clientCert, 'DELETE', '/x', { token: claims })), { allow: true });
  claims['scope'] = 'read';
  const answer = (await policy.evaluate(certInput(certs.clientCert, 'DELETE', '/x', { token: claims }))) as {
    allow: boolean;
  };
  t.equal(answer.allow, false, "the narrowed token is not served the admin scope's allow");
  t.equal(asked, 2, 'the policy is asked about the narrowed claims');
});
