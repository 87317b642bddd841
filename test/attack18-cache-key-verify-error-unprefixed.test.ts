// Attack (cache key, keyWithin): every key starts `${leaf}|${verify}|${token}|${action}${resource}`,
// where verify is `v` or `u:${peer.verifyError ?? ''}`. The module comment promises "Free-form
// parts are length-prefixed (enc), so no two different inputs spell the same key", and the key
// always covers "whether the chain verified (and why not)", so a policy may read
// peer.verifyError (and the token, action and resource) without declaring them. But verifyError
// (a string, per AuthorizationInput) is spelled raw: a `|` in it shifts the token hash and the
// action into the error. An unverified input with a token and one action, and another without a
// token whose verifyError carries that token's hash and whose action differs, share one key: the
// cached allow made for alice's token answers a request that carries no token at all. Also
// `verifyError: undefined` and `verifyError: ''` share a key, which a policy can tell apart.
//
// A correct library spells verifyError unambiguously (length-prefixed, undefined apart from ''),
// so neither pair shares a key and the tokenless request is asked of the policy.
import t from 'tap';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

function unverified(verifyError: string | undefined, extra: Partial<AuthorizationInput>): AuthorizationInput {
  const input = certInput(certs.clientCert, 'GET', '/doc', extra);
  input.peer.verified = false;
  if (verifyError === undefined) delete input.peer.verifyError;
  else input.peer.verifyError = verifyError;
  return input;
}

t.test("a verifyError holding '|' never makes two inputs share a key", async (t) => {
  const asked: AuthorizationInput[] = [];
  const policy = cached(
    Object.assign(
      (input: AuthorizationInput) => {
        asked.push(input);
        // Unverified chains are let in for a token holder only (reads the token, always keyed).
        return { allow: input.token?.['sub'] === 'alice', reason: 'token', ttlMs: 60_000 };
      },
      { factsRead: () => ['request.method'] },
    ),
    new DecisionCache(),
  );
  const withToken = unverified('X', { token: { sub: 'alice' }, action: 'ab||s3:GET' });
  const key = policy.cache.key(withToken)!;
  const tokenHash = key.split('|')[2]!;
  t.match(tokenHash, /^[A-Za-z0-9_-]{43}$/, 'the token part is its hash');
  const forged = unverified(`X|${tokenHash}|s10:ab`, { action: 'GET' });
  t.not(policy.cache.key(forged), key, 'the tokenless input has a key of its own');

  t.match(await policy.evaluate(withToken), { allow: true }, "alice's token is allowed");
  const answer = (await policy.evaluate(forged)) as { allow: boolean; source?: string };
  t.equal(answer.allow, false, "a request without a token is not served alice's allow");
  t.equal(asked.length, 2, 'the policy is asked about the tokenless request');
});

t.test('verifyError undefined and empty are keyed apart', async (t) => {
  const cache = new DecisionCache();
  cache.facts = ['request.method'];
  t.not(cache.key(unverified(undefined, {})), cache.key(unverified('', {})));
});
