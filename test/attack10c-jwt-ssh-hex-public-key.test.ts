// Attack (bearer tokens, RS256/HS256 key confusion): `jwt.keys` refuses public key material as an
// HMAC secret in the forms it knows (PEM, JSON, DER, base64 of DER), but two other everyday text
// forms of a public key pass as the secret:
//  - an OpenSSH public key line (`ssh-ed25519 AAAAC3Nza… user@host`, the contents of id_*.pub or
//    an authorized_keys line; RFC 4253 section 6.6 wire format in base64);
//  - the hex of a DER public key (`openssl pkey -pubin -outform DER | xxd -p`, the form many key
//    registries and HSM tools print).
// Both are public by nature; with either as the secret, anyone holding the public key signs
// HS256 tokens for any `sub`.
//
// A correct library recognises these public key encodings (an `ssh-<alg>`/`ecdsa-sha2-*` key line;
// hex that decodes to DER key material, as it already does for base64) and refuses them at
// construction with ERR_CTLS_INVALID_OPTION.
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { TokenVerifier } from '../dist/http/token.js';

const sshString = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
const { publicKey } = generateKeyPairSync('ed25519');
const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
const sshBlob = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(raw)]).toString('base64');
const sshLine = `ssh-ed25519 ${sshBlob} alice@laptop\n`;
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const derHex = rsa.export({ type: 'spki', format: 'der' }).toString('hex');

const refused = (keys: string) => () => new TokenVerifier({ keys, audience: 'api' });

t.test('the rule: the same DER as base64 is refused', async (t) => {
  t.throws(refused(Buffer.from(derHex, 'hex').toString('base64')), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test('an OpenSSH public key line is refused as an HMAC secret', async (t) => {
  t.throws(refused(sshLine), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test('the hex of a DER public key is refused as an HMAC secret', async (t) => {
  t.throws(refused(derHex), { code: 'ERR_CTLS_INVALID_OPTION' });
});
