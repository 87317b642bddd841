/**
 * Buffers lent to TlsConnection.write() for the ciphertext it produces.
 *
 * A fresh JS Buffer per write costs little by itself, but at bulk rates the
 * external memory behind them drives V8 into frequent full collections.
 * node:tls never allocates there: its TLSWrap writes straight out of the BIO.
 * Reusing a few buffers gets the same.
 *
 * A buffer may be lent again only after the transport is done with it, i.e.
 * when its write callback has run. That promise holds for libuv-backed
 * sockets (TCP, pipes): libuv copies the bytes to the kernel or keeps the
 * buffer until its write completes, and only then calls back. A JS Duplex
 * may keep a reference past its callback (an in-memory pair hands the very
 * chunk to its peer), so such transports never borrow.
 */
import type { Duplex } from 'node:stream';

/** Room for the ciphertext of a 64 KiB write (four records) with margin. */
const BUFFER_SIZE = 128 * 1024;
/** Spare buffers kept for the whole process, however many connections there are. */
const MAX_SPARE = 16;

const spare: Buffer[] = [];

/** Whether `transport` writes through libuv, so a lent buffer comes back safely. */
export function canLendTo(transport: Duplex): boolean {
  const handle = (transport as Duplex & { _handle?: { constructor?: { name?: string } } | null })._handle;
  const kind = handle?.constructor?.name;
  return kind === 'TCP' || kind === 'Pipe';
}

export function borrow(): Buffer {
  return spare.pop() ?? Buffer.allocUnsafeSlow(BUFFER_SIZE);
}

/** Gives back a buffer nothing references any more. */
export function giveBack(buffer: Buffer): void {
  if (spare.length < MAX_SPARE) spare.push(buffer);
}

/**
 * Writes the first `length` bytes of a lent buffer to `transport`; the buffer goes back to the
 * pool once the transport is done with it. Returns what transport.write() returned.
 */
export function sendLent(transport: Duplex, out: Buffer, length: number): boolean {
  if (transport.destroyed || transport.writableEnded) {
    giveBack(out);
    return true;
  }
  let lent: Buffer | null = out;
  const flowing = transport.write(out.subarray(0, length), (writeError?: Error | null) => {
    // After a failed write the transport may still hold the bytes: let it keep them.
    if (lent !== null && !writeError) giveBack(lent);
    lent = null;
  });
  // Nothing queued means libuv wrote every byte to the kernel at once. The
  // callback comes only on the next tick, and a sender that keeps writing
  // would otherwise borrow a new buffer for every write until then.
  if (lent !== null && transport.writableLength === 0) {
    giveBack(lent);
    lent = null;
  }
  return flowing;
}
