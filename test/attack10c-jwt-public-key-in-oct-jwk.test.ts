// Attack (bearer tokens, RS256/HS256 key confusion): `jwt.keys` refuses public key material (PEM,
// JSON, DER, base64 of DER) as an HMAC secret when it comes as a string, bytes or a secret
// KeyObject: `crypto.createSecretKey(pemBuffer)` is refused. The same bytes wrapped as a symmetric
// JWK (`{ kty: 'oct', k: base64url(pem) }`, what a "convert my key to JWK" step or a secrets vault
// produces) or imported as an extractable WebCrypto HMAC CryptoKey are only measured (>= 32 bytes),
// never looked into, and are taken: jose then verifies HS256 with the public key's bytes, so anyone
// holding the public key signs tokens for any `sub`.
//
// A correct library applies one content rule to every form a shared secret can take: the bytes of
// an oct JWK's `k` and of an extractable HMAC key are checked as the string form is, and public
// key material is refused at construction (ERR_CTLS_INVALID_OPTION).
import t from 'tap';
import { hs256Forgery } from './helpers/policy-jwt';
import { createSecretKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import { TokenVerifier } from '../dist/http/token.js';

const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }) as string);
const der = publicKey.export({ type: 'spki', format: 'der' });

const refused = (keys: unknown) => () => new TokenVerifier({ keys: keys as never, audience: 'api' });

t.test('the rule: the PEM as bytes or as a secret KeyObject is refused', async (t) => {
  t.throws(refused(pem), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(refused(createSecretKey(pem)), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test('the PEM or DER public key as an oct JWK is refused too', async (t) => {
  t.throws(refused({ kty: 'oct', k: pem.toString('base64url') }), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(refused({ kty: 'oct', k: der.toString('base64url') }), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test('the PEM public key as an extractable HMAC CryptoKey is refused too', async (t) => {
  const key = await webcrypto.subtle.importKey('raw', pem, { name: 'HMAC', hash: 'SHA-256' }, true, ['verify']);
  t.throws(refused(key), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test('what is at stake: a token signed with the public PEM is not valid', async (t) => {
  const status = await hs256Forgery({ kty: 'oct', k: pem.toString('base64url') }, pem);
  t.not(status, 'valid', 'a token anyone could sign from the public key is not valid');
});
