// Attack (bearer tokens, RS256/HS256 key confusion): `jwt.keys` refuses PEM text and JSON given as
// a string or bytes, since as an HMAC secret anyone holding the public key could sign tokens. The
// checks read the bytes as latin1 and look for `-----BEGIN …-----` or for text that starts with
// `{`/`[` and parses as JSON. Two ordinary ways a public key file is read defeat them:
//  - a JWK file saved with a UTF-8 byte-order mark (Windows editors, PowerShell's Out-File
//    -Encoding utf8): `fs.readFileSync('jwk.json')` starts with EF BB BF, and even read as 'utf8'
//    the string starts with U+FEFF; neither starts with `{` for the check;
//  - a PEM or JWK file in UTF-16 (Windows PowerShell 5's `>` redirection writes UTF-16LE):
//    `-\0-\0-\0…` is not `-----BEGIN`.
// Each is taken as the HMAC secret; the public JWK is published (a JWKS endpoint), so an attacker
// rebuilds the exact bytes and signs an HS256 token for any `sub`, which verifies.
//
// A correct library recognises public key material whatever its text encoding (a BOM or UTF-16
// decoded first) and refuses it at construction with ERR_CTLS_INVALID_OPTION, as it does the
// plain UTF-8 file.
import t from 'tap';
import { hs256Forgery } from './helpers/policy-jwt';
import { generateKeyPairSync } from 'node:crypto';
import { authorizeRequest } from '../dist/http/authorize-request.js';

const policy = () => true;
const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwkText = JSON.stringify({ ...publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig' });
const pemText = publicKey.export({ type: 'spki', format: 'pem' }) as string;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

const refused = (keys: string | Uint8Array) => () => authorizeRequest({ policy, jwt: { keys, audience: 'api' } });

t.test('the rule: the same JWK and PEM in plain UTF-8 are refused', async (t) => {
  t.throws(refused(jwkText), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(refused(Buffer.from(pemText)), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test('a JWK file with a UTF-8 BOM is refused too (bytes and string)', async (t) => {
  t.throws(refused(Buffer.concat([BOM, Buffer.from(jwkText)])), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(refused(`\uFEFF${jwkText}`), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test('a PEM or JWK file in UTF-16LE is refused too', async (t) => {
  t.throws(refused(Buffer.from(pemText, 'utf16le')), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(refused(Buffer.from(jwkText, 'utf16le')), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test('what is at stake: a token signed with the published JWK (plus a BOM) is not valid', async (t) => {
  const secret = Buffer.concat([BOM, Buffer.from(jwkText)]);
  t.not(await hs256Forgery(secret, secret), 'valid', 'a token anyone could sign from the public key is not valid');
});
