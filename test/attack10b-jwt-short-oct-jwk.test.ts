// Attack (bearer tokens, weak shared secret): `jwt.keys` now refuses an HMAC secret under 32 bytes
// (RFC 7518 section 3.2) when it is given as a string, bytes or a secret KeyObject, but the same
// secret given as a JWK (`{ kty: 'oct', k: … }`, the form secrets take in a JWK file or a vault;
// jose verifies HS256 with it directly) or as a WebCrypto HMAC CryptoKey is taken whatever its
// length. A 6-byte secret falls to an offline brute force of one captured token in seconds, after
// which anyone signs tokens for any `sub`.
//
// A correct library applies one rule to every form a shared secret can take: an `oct` JWK and a
// secret CryptoKey under 32 bytes are refused at construction (ERR_CTLS_INVALID_OPTION), as the
// string form is.
import t from 'tap';
import { webcrypto } from 'node:crypto';
import { authorizeRequest } from '../dist/http/authorize-request.js';

const policy = () => true;
const secret = Buffer.from('hunter');
const jwk = { kty: 'oct', k: secret.toString('base64url') };

t.test('the string form is refused (the rule)', async (t) => {
  t.throws(() => authorizeRequest({ policy, jwt: { keys: 'hunter' } }), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test('a 6-byte secret as an oct JWK is refused too', async (t) => {
  t.throws(() => authorizeRequest({ policy, jwt: { keys: jwk } }), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test('a 6-byte HMAC CryptoKey is refused too', async (t) => {
  const key = await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, true, ['verify']);
  t.throws(() => authorizeRequest({ policy, jwt: { keys: key } }), { code: 'ERR_CTLS_INVALID_OPTION' });
});
