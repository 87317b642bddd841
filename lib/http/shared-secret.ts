/**
 * What `jwt.keys` may hold as an HMAC shared secret. Whatever form a secret comes in (a string,
 * bytes, a secret KeyObject, an `oct` JWK, an HMAC CryptoKey), its bytes must not be key material
 * meant to be public: with a public key as the HMAC secret, anyone holding that key could sign
 * tokens (the RS256/HS256 confusion). The bytes are read the ways a key file is written: PEM, JSON
 * (a JWK), an OpenSSH public key line, DER, and the base64 or hex of DER, in UTF-8 (with or
 * without a byte order mark) or UTF-16. A secret must also have at least 32 bytes (RFC 7518,
 * section 3.2: no shorter than the HS256 hash).
 */
import { createPublicKey, KeyObject, X509Certificate } from 'node:crypto';
import { invalidOption } from '../common/errors.js';

const MIN_SECRET_BYTES = 32;

/** Throws ERR_CTLS_INVALID_OPTION when `keys` is a secret that is public key material or too short. */
export function checkSharedSecret(keys: unknown): void {
  const bytes = secretBytes(keys);
  if (bytes === undefined) return;
  const material = publicMaterial(bytes);
  if (material !== undefined)
    throw invalidOption(
      'jwt.keys',
      `an HMAC secret, not ${material} (pass a public key as crypto.createPublicKey() or a JWK object)`,
    );
  if (bytes.length < MIN_SECRET_BYTES)
    // The secret itself stays out of the message.
    throw invalidOption('jwt.keys', `an HMAC secret of at least ${MIN_SECRET_BYTES} bytes (got ${bytes.length})`);
}

/** The secret's bytes, or undefined when `keys` is no secret (a public key, a JWK Set …). */
function secretBytes(keys: unknown): Buffer | undefined {
  if (typeof keys === 'string') return Buffer.from(keys, 'utf8');
  if (ArrayBuffer.isView(keys)) return Buffer.from(keys.buffer, keys.byteOffset, keys.byteLength);
  if (keys instanceof KeyObject) return keys.type === 'secret' ? keys.export() : undefined;
  if (isCryptoKey(keys)) {
    const name = (keys.algorithm as { name?: unknown }).name;
    // KeyObject.from reads the key whether or not the CryptoKey is extractable.
    return name === 'HMAC' ? KeyObject.from(keys as Parameters<typeof KeyObject.from>[0]).export() : undefined;
  }
  if (keys !== null && typeof keys === 'object' && (keys as { kty?: unknown }).kty === 'oct') {
    const k = (keys as { k?: unknown }).k;
    return typeof k === 'string' ? Buffer.from(k, 'base64url') : Buffer.alloc(0);
  }
  return undefined;
}

/** A WebCrypto key (the global CryptoKey class; node:crypto's webcrypto does not export it). */
function isCryptoKey(value: unknown): value is { algorithm: unknown } {
  const CryptoKeyClass = (globalThis as { CryptoKey?: abstract new () => object }).CryptoKey;
  return CryptoKeyClass !== undefined && value instanceof CryptoKeyClass;
}

/** What public key material `bytes` hold, named for the error, or undefined. */
function publicMaterial(bytes: Buffer): string | undefined {
  if (isPublicDer(bytes)) return 'DER key material';
  for (const text of textsOf(bytes)) {
    const trimmed = text.trim();
    if (/-----BEGIN [A-Z0-9 ]+-----/.test(trimmed)) return 'PEM key material';
    if (/^[{[]/.test(trimmed) && parsesAsJson(trimmed)) return 'JSON (pass a JWK or a JWK Set as an object)';
    if (/^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9-]+@openssh\.com) AAAA/.test(trimmed))
      return 'an OpenSSH public key';
    if (/^[A-Za-z0-9+/_=\s-]+$/.test(trimmed) && isPublicDer(base64Bytes(trimmed)))
      return 'the base64 of DER key material';
    if (/^[0-9A-Fa-f:\s]+$/.test(trimmed) && isPublicDer(Buffer.from(trimmed.replace(/[:\s]/g, ''), 'hex')))
      return 'the hex of DER key material';
  }
  return undefined;
}

/**
 * The texts `bytes` may be: UTF-8 (a byte order mark dropped) and, when they look like it, UTF-16
 * in either byte order (what some editors and shells write).
 */
function textsOf(bytes: Buffer): string[] {
  const texts = [bytes.toString('utf8').replace(/^\uFEFF/, '')];
  if (bytes.length >= 2 && bytes.length % 2 === 0) {
    let zerosEven = 0;
    let zerosOdd = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== 0) continue;
      if (i % 2 === 0) zerosEven++;
      else zerosOdd++;
    }
    const half = bytes.length / 2;
    const bom = bytes.readUInt16BE(0);
    if (bom === 0xfffe || zerosOdd > half / 2) texts.push(bytes.toString('utf16le').replace(/^\uFEFF/, ''));
    if (bom === 0xfeff || zerosEven > half / 2)
      texts.push(
        swapped(bytes)
          .toString('utf16le')
          .replace(/^\uFEFF/, ''),
      );
  }
  return texts;
}

function swapped(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  return copy.swap16();
}

/** Whether `der` is a public key (SubjectPublicKeyInfo or PKCS#1) or a certificate. */
function isPublicDer(der: Buffer): boolean {
  // Every such structure is an ASN.1 SEQUENCE.
  if (der.length < 16 || der[0] !== 0x30) return false;
  for (const type of ['spki', 'pkcs1'] as const) {
    try {
      createPublicKey({ key: der, format: 'der', type });
      return true;
    } catch {
      // Not this form.
    }
  }
  try {
    new X509Certificate(der);
    return true;
  } catch {
    return false;
  }
}

function base64Bytes(text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  return Buffer.from(compact, /[-_]/.test(compact) ? 'base64url' : 'base64');
}

function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
