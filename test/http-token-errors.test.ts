// Tokens that fail verification answer 401 invalid_token and say nothing about the server's keys,
// whatever the key type (a single key, a JWK Set, a shared secret) and whatever the token claims.
import t from 'tap';
import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { client, startHttps } from './helpers/policy-https';
import { makeSigner } from './helpers/policy-jwt';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const forged = (
  header: Record<string, unknown>,
  claims: Record<string, unknown> = { sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 },
) => `${b64(header)}.${b64(claims)}.${b64('signature')}`;

/** Every description a client can see: about its token, never about the server's keys. */
const KNOWN = new Set([
  'malformed token',
  'invalid token',
  'signature verification failed',
  'algorithm not allowed',
  'algorithm not supported',
  'no key matches the token',
  'several keys match the token',
  'token expired',
]);

t.test('garbage and mismatched tokens are 401 invalid_token without internals', async (t) => {
  const signer = await makeSigner('k1');
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { SignJWT } = await import('jose');
  const hs256 = await new SignJWT({ sub: 'mallory' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('2m')
    .sign(new TextEncoder().encode('guessed'));
  const keySets = {
    'a single JWK': signer.publicJwk,
    'a KeyObject': publicKey,
    'a JWK Set': { keys: [signer.publicJwk] },
    'a shared secret': createSecretKey(Buffer.alloc(32, 1)),
  };
  const tokens = {
    'not a JWT': 'abc',
    'three dots': 'a.b.c',
    'HS256 against a public key': hs256,
    'alg none': forged({ alg: 'none' }),
    'RS256 header': forged({ alg: 'RS256', kid: 'k1' }),
    'unknown alg': forged({ alg: 'XX999' }),
    'crit header': forged({ alg: 'ES256', crit: ['b64'], b64: false }),
    'jwk in header': forged({ alg: 'ES256', jwk: { kty: 'EC' } }),
    'header not JSON': `${b64('{')}.${b64({})}.${b64('s')}`,
    'huge kid': forged({ alg: 'ES256', kid: 'k'.repeat(5000) }),
  };
  for (const [keyName, keys] of Object.entries(keySets)) {
    const authz = authorizeRequest({ policy: () => true, jwt: { keys: keys as never } });
    const url = await startHttps(
      t,
      authz.node((_req, res) => res.end('served')),
    );
    const get = client(t, url, 'none');
    for (const [tokenName, token] of Object.entries(tokens)) {
      const r = await get('GET', '/', { authorization: `Bearer ${token}` });
      t.equal(r.status, 401, `${keyName}, ${tokenName}: 401`);
      const challenge = String(r.headers['www-authenticate']);
      t.match(challenge, /error="invalid_token"/, `${keyName}, ${tokenName}: invalid_token`);
      const detail = String(r.json()['detail']);
      t.ok(KNOWN.has(detail), `${keyName}, ${tokenName}: a fixed description, not jose's message (${detail})`);
      t.match(challenge, `error_description="${detail}"`);
    }
  }
});
