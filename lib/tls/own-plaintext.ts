/**
 * Plaintext decrypted in place sits in the memory of the ciphertext it came in. Every bound on
 * inbound data (the readable highWaterMark, the data gate's maxHeldBytes) counts a chunk's
 * length, so the memory a chunk keeps alive must be of that order: padded TLS 1.3 records
 * (RFC 8446 section 5.4) would otherwise let a few bytes of plaintext pin a whole read.
 */

/**
 * `view` itself when it fills at least half of its ArrayBuffer (the bulk case: no copy), else a
 * copy in an ArrayBuffer of its own size. Not Buffer.from: small copies come from node's shared
 * pool, whose ArrayBuffer holds other data.
 */
export function ownPlaintext(view: Buffer): Buffer {
  if (view.length * 2 >= view.buffer.byteLength) return view;
  const copy = Buffer.allocUnsafeSlow(view.length);
  view.copy(copy);
  return copy;
}
