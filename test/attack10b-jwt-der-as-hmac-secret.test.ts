// Attack (bearer tokens, algorithm confusion): `jwt.keys` now refuses PEM text and JSON as an HMAC
// secret, but the same public key in its other everyday forms still becomes one:
// - the DER bytes of the key (`fs.readFileSync('idp-public.der')`, or
//   `publicKey.export({ type: 'spki', format: 'der' })`), and
// - the base64 body of the PEM without its armour lines (`MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A…`), how
//   a public key is usually put into an environment variable (`JWT_PUBLIC_KEY=MIIB…`) and what many
//   IdP consoles show as "public key".
// Both are public, longer than 32 bytes and neither PEM nor JSON, so they are taken as an HS256
// secret, and with no `algorithms` given jose accepts whatever HMAC algorithm the token names: anyone
// holding the public key signs `{ alg: 'HS256', sub: 'admin' }` and the API serves them.
//
// A correct library refuses key material that parses as a public key or certificate (DER, or base64
// of DER: an ASN.1 SEQUENCE that node's createPublicKey accepts) as an HMAC secret at construction
// (ERR_CTLS_INVALID_OPTION), so a token HMAC-signed with the public key is never accepted.
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { client, startHttps } from './helpers/policy-https';

const served = (_req: IncomingMessage, res: ServerResponse) => res.end('served');
const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const der = publicKey.export({ type: 'spki', format: 'der' });
const forms: Array<[string, Uint8Array | string]> = [
  ['the DER bytes of the public key', der],
  ['the base64 body of the PEM, without armour', der.toString('base64')],
];

for (const [name, keys] of forms) {
  t.test(`${name} does not become an HMAC secret anyone can sign with`, async (t) => {
    const policy = (input: { token?: Record<string, unknown> }) => input.token?.['sub'] === 'admin';
    let authz;
    try {
      authz = authorizeRequest({ policy, cache: false, jwt: { keys, issuer: 'https://idp.test' } });
    } catch (err) {
      t.match(err, { code: 'ERR_CTLS_INVALID_OPTION' }, 'refused at construction: fine');
      return;
    }
    const get = client(t, await startHttps(t, authz.node(served)), 'none');
    const { SignJWT } = await import('jose');
    // The attacker knows only the public key.
    const secret = typeof keys === 'string' ? new TextEncoder().encode(keys) : keys;
    const forged = await new SignJWT({ sub: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://idp.test')
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(secret);
    const reply = await get('GET', '/admin', { authorization: `Bearer ${forged}` });
    t.not(reply.status, 200, 'a token HMAC-signed with the public key is not accepted');
  });
}
