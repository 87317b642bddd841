// Attack (cache key soundness, lossy conversion): the decision cache keys a token by
// sha256(enc(claims)), and a key longer than 512 characters by sha256(key). Both hash a JS string,
// which node encodes as UTF-8 first, and UTF-8 cannot hold a lone UTF-16 surrogate: '\ud800',
// '\udbff' and '\ufffd' all become the bytes EF BF BD. So two tokens whose claims differ only in a
// lone surrogate versus U+FFFD (JSON.parse accepts `"sub":"admin\ud800"` from a signed JWT) get one
// cache key, and a cached allow made for one answers the other. The embedded Cedar engine tells
// them apart: it allows `admin\ufffd` and refuses `admin\ud800` (ERR_CTLS_CEDAR_CONTEXT, fail
// closed). Behind authorizeRequest's default cache, the refused token is served the cached allow.
//
// A correct library keys a string by all of its UTF-16 code units (hash it as UTF-16, or escape
// lone surrogates before hashing), or refuses to cache an input holding one: a cached decision
// answers only an input on which the policy must answer the same.
//
// Attack class: cache key soundness (9) and lossy conversion (11).
import t from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';
import { defaultCacheKey } from '../dist/policy/cache-key.js';
import { client, startHttps } from './helpers/policy-https';
import { tokenInput } from './helpers/policy-input';
import type { AuthorizationInput } from '../dist/common/types.js';

const served = (_req: IncomingMessage, res: ServerResponse) => res.end('served');

/** ES256 tokens with fixed iat/exp, so that two tokens differ only in `sub` whatever the clock does. */
async function makeSigner() {
  const { SignJWT, exportJWK, generateKeyPair } = await import('jose');
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256', use: 'sig' };
  const iat = Math.floor(Date.now() / 1000);
  return {
    keys: { keys: [publicJwk] } as never,
    sign: (sub: string) =>
      new SignJWT({ sub, iat, exp: iat + 300, iss: 'https://issuer.test', aud: 'api' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k' })
        .sign(privateKey),
  };
}

t.test('the key tells a lone surrogate from U+FFFD', async (t) => {
  t.not(
    defaultCacheKey(tokenInput({ sub: 'admin\ud800' }), []),
    defaultCacheKey(tokenInput({ sub: 'admin\ufffd' }), []),
    'two different subjects, two keys',
  );
  const long = 'x'.repeat(600);
  const withContext = (v: string) =>
    defaultCacheKey(Object.assign(tokenInput({ sub: 'a' }), { context: { v: v + long } }), ['context.v']);
  t.not(withContext('\ud800'), withContext('\ufffd'), 'a hashed (long) key too');
});

t.test('REST + a policy that reads the token under the always-keyed identity', async (t) => {
  const signer = await makeSigner();
  // Declares no facts: the identity (the whole claim set) is always in the key.
  const policy = Object.assign((input: AuthorizationInput) => input.token?.['sub'] === 'admin\ufffd', {
    factsRead: [] as string[],
  });
  const authz = authorizeRequest({ policy, jwt: { keys: signer.keys, audience: 'api' } });
  t.ok(authz.cache, 'a cache by default');
  const get = client(t, await startHttps(t, authz.node(served)), 'none');
  const allowed = await signer.sign('admin\ufffd');
  const other = await signer.sign('admin\ud800');
  t.equal((await get('GET', '/', { authorization: `Bearer ${allowed}` })).status, 200, 'the U+FFFD subject is allowed');
  t.equal(
    (await get('GET', '/', { authorization: `Bearer ${other}` })).status,
    403,
    'another subject is not served its allow',
  );
});

t.test('REST + Cedar + JWT: a token Cedar refuses is not served the cached allow of its twin', async (t) => {
  const signer = await makeSigner();
  const policy = cedarPolicy({ policies: 'permit(principal == User::"admin\uFFFD", action, resource);' });
  t.teardown(() => policy.close());
  const authz = authorizeRequest({ policy, jwt: { keys: signer.keys, audience: 'api' } });
  t.ok(authz.cache, 'Cedar declares its facts: a cache by default');
  const get = client(t, await startHttps(t, authz.node(served)), 'none');
  // A path long enough that the key passes 512 characters and is replaced by its SHA-256.
  const path = `/files/${'a'.repeat(600)}`;

  const allowed = await signer.sign('admin\ufffd');
  const refused = await signer.sign('admin\ud800');
  // Without anything cached, Cedar refuses the lone surrogate (fail closed).
  t.equal((await get('GET', path, { authorization: `Bearer ${refused}` })).status, 403, 'refused uncached');
  t.equal((await get('GET', path, { authorization: `Bearer ${allowed}` })).status, 200, 'its twin is allowed');
  t.equal(
    (await get('GET', path, { authorization: `Bearer ${refused}` })).status,
    403,
    'still refused once the twin is cached',
  );
});
