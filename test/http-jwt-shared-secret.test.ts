// What `jwt.keys` takes as an HMAC shared secret: a string or bytes of at least 32 bytes (RFC 7518
// section 3.2), never public key material. PEM text or a JSON JWK, as a string or as the bytes of a
// file, is refused at construction, so a key meant for signature checks can never turn into a
// secret anyone holding it could sign with.
import t from 'tap';
import { createSecretKey, generateKeyPairSync, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { certs } from './helpers/certs';
import { authorizeRequest } from '../dist/http/authorize-request.js';

const policy = () => true;
const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const jwk = JSON.stringify(publicKey.export({ format: 'jwk' }));
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const der = publicKey.export({ type: 'spki', format: 'der' });
const pemBody = (text: string) =>
  text
    .split('\n')
    .filter((line) => !line.startsWith('-----'))
    .join('\n');

const refused: Array<[string, unknown, RegExp]> = [
  ['PEM text', pem, /not PEM key material/],
  ['PEM bytes, as read from a file', Buffer.from(pem), /not PEM key material/],
  ['PEM in a Uint8Array', new TextEncoder().encode(pem), /not PEM key material/],
  ['PEM in a secret KeyObject', createSecretKey(Buffer.from(pem)), /not PEM key material/],
  ['PEM after leading whitespace', `\n  ${pem}`, /not PEM key material/],
  ['a JWK as JSON text', jwk, /not JSON/],
  ['a JWK Set as JSON bytes', Buffer.from(JSON.stringify({ keys: [JSON.parse(jwk)] })), /not JSON/],
  ['SPKI DER bytes, as read from a .der file', publicKey.export({ type: 'spki', format: 'der' }), /not DER/],
  ['PKCS#1 DER bytes', rsa.export({ type: 'pkcs1', format: 'der' }), /not DER/],
  ['a certificate as DER', new X509Certificate(certs.clientCert).raw, /not DER/],
  ['the base64 body of a PEM, without its armour', pemBody(pem), /base64 of DER/],
  ['the same as one line of base64url', der.toString('base64url'), /base64 of DER/],
  ['PEM after a UTF-8 byte order mark', `\ufeff${pem}`, /not PEM key material/],
  ['a JWK file in UTF-16LE with its BOM', Buffer.from(`\ufeff${jwk}`, 'utf16le'), /not JSON/],
  ['PEM in UTF-16BE', Buffer.from(pem, 'utf16le').swap16(), /not PEM key material/],
  ['an OpenSSH public key line', `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq0 user@host`, /OpenSSH public key/],
  ['the hex of DER, as xxd -p writes it', der.toString('hex').replace(/(.{60})/g, '$1\n'), /hex of DER/],
  ['PEM inside an oct JWK', { kty: 'oct', k: Buffer.from(pem).toString('base64url') }, /not PEM key material/],
  ['a 31-byte secret', 'x'.repeat(31), /at least 32 bytes \(got 31\)/],
  ['a 6-byte oct JWK', { kty: 'oct', k: Buffer.from('secret').toString('base64url') }, /got 6/],
  ['an empty secret', '', /at least 32 bytes \(got 0\)/],
];

for (const [name, keys, message] of refused) {
  t.test(`refused as a shared secret: ${name}`, async (t) => {
    t.throws(() => authorizeRequest({ policy, jwt: { keys: keys as string } }), {
      code: 'ERR_CTLS_INVALID_OPTION',
      message,
    });
  });
}

t.test('a short secret is not echoed in the error', async (t) => {
  const secret = 'hunter2-hunter2';
  let message = '';
  try {
    authorizeRequest({ policy, jwt: { keys: secret } });
  } catch (err) {
    message = (err as Error).message;
  }
  t.match(message, /at least 32 bytes/, 'refused');
  t.notMatch(message, secret, 'without the secret in the message');
});

t.test('accepted: a 32-byte secret, as text or bytes, and public keys as a KeyObject or a JWK', async (t) => {
  t.doesNotThrow(() => authorizeRequest({ policy, jwt: { keys: 's'.repeat(32) } }));
  t.doesNotThrow(
    () => authorizeRequest({ policy, jwt: { keys: randomBytes(32).toString('base64') } }),
    'a random secret written in base64',
  );
  t.doesNotThrow(() => authorizeRequest({ policy, jwt: { keys: randomBytes(48) } }));
  t.doesNotThrow(() =>
    authorizeRequest({ policy, jwt: { keys: { kty: 'oct', k: randomBytes(32).toString('base64url') } } }),
  );
  t.doesNotThrow(() => authorizeRequest({ policy, jwt: { keys: new Uint8Array(32).fill(7) } }));
  t.doesNotThrow(() => authorizeRequest({ policy, jwt: { keys: publicKey } }));
  t.doesNotThrow(() => authorizeRequest({ policy, jwt: { keys: JSON.parse(jwk) } }));
  t.doesNotThrow(() => authorizeRequest({ policy, jwt: { keys: { keys: [JSON.parse(jwk)] } } }));
});

t.test('jwt without an audience warns once, with its code', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const script = `
    const { authorizeRequest } = require('./dist/http/authorize-request.js');
    const codes = [];
    process.on('warning', (w) => codes.push(w.code));
    const keys = 's'.repeat(32);
    authorizeRequest({ policy: () => true, jwt: { keys } });
    authorizeRequest({ policy: () => true, jwt: { keys } });
    authorizeRequest({ policy: () => true, jwt: { keys, audience: 'api' } });
    setImmediate(() => console.log(JSON.stringify(codes)));`;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.same(JSON.parse(run.stdout), ['ERR_CTLS_JWT_NO_AUDIENCE'], 'one warning for two authorizers without audience');
});

t.test('an HMAC CryptoKey shorter than 32 bytes is refused; 32 bytes is accepted', async (t) => {
  const key = (bytes: number) =>
    webcrypto.subtle.importKey('raw', randomBytes(bytes), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const short = await key(6);
  t.throws(() => authorizeRequest({ policy, jwt: { keys: short as never } }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /got 6/,
  });
  const long = await key(32);
  t.doesNotThrow(() => authorizeRequest({ policy, jwt: { keys: long as never } }));
});

t.test('an HMAC CryptoKey holding a public key, extractable or not, is refused', async (t) => {
  for (const extractable of [true, false]) {
    const key = await webcrypto.subtle.importKey(
      'raw',
      Buffer.from(pem),
      { name: 'HMAC', hash: 'SHA-256' },
      extractable,
      ['verify'],
    );
    t.throws(() => authorizeRequest({ policy, jwt: { keys: key as never } }), {
      code: 'ERR_CTLS_INVALID_OPTION',
      message: /not PEM key material/,
    });
  }
});

t.test('random secrets are never taken for key material', async (t) => {
  let refusedCount = 0;
  for (let i = 0; i < 2_000; i++) {
    const bytes = randomBytes(32 + (i % 32));
    for (const keys of [bytes, bytes.toString('base64'), bytes.toString('hex'), bytes.toString('base64url')]) {
      try {
        authorizeRequest({ policy, jwt: { keys, audience: 'api' } });
      } catch {
        refusedCount++;
      }
    }
  }
  t.equal(refusedCount, 0, '8,000 random secrets, as bytes, base64, base64url and hex: none refused');
});
