// Attack (bearer tokens, algorithm confusion): `jwt.keys` takes a string as an HMAC shared secret.
// An app that hands it the identity provider's public key as PEM text (what most JWT libraries and
// most IdP consoles give: `-----BEGIN PUBLIC KEY-----…`) gets no error: the library quietly treats
// the PEM as an HS256/384/512 secret and, with no `algorithms` given, accepts whatever HMAC
// algorithm the token names. The public key is public, so anyone can sign `{ alg: 'HS256' }` tokens
// for any `sub` with it and the API accepts them: the RS256/HS256 confusion that broke
// jsonwebtoken and others (CVE-2015-9235, CVE-2016-10555).
//
// A correct library refuses a string that is PEM (or JSON) key material as an HMAC secret at
// construction (ERR_CTLS_INVALID_OPTION), or imports it as the public key it is, so a token signed
// with the PEM text as an HMAC secret is never accepted.
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { client, startHttps } from './helpers/policy-https';

const served = (_req: IncomingMessage, res: ServerResponse) => res.end('served');

t.test('a PEM public key given as `keys` does not become an HMAC secret anyone can sign with', async (t) => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const policy = (input: { token?: Record<string, unknown> }) => input.token?.['sub'] === 'admin';
  let authz;
  try {
    authz = authorizeRequest({ policy, cache: false, jwt: { keys: pem, issuer: 'https://idp.test' } });
  } catch (err) {
    t.match(err, { code: 'ERR_CTLS_INVALID_OPTION' }, 'refused at construction: fine');
    return;
  }
  const get = client(t, await startHttps(t, authz.node(served)), 'none');
  const { SignJWT } = await import('jose');
  // The attacker knows only the public key.
  const forged = await new SignJWT({ sub: 'admin' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://idp.test')
    .setIssuedAt()
    .setExpirationTime('2m')
    .sign(new TextEncoder().encode(pem));
  const reply = await get('GET', '/admin', { authorization: `Bearer ${forged}` });
  t.not(reply.status, 200, 'a token HMAC-signed with the public key is not accepted');
});
