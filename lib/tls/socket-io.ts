/**
 * The I/O path under a TLSSocket: how ciphertext gets from the transport to the TLS engine and
 * back. Two implementations: StreamIO (stream-io.ts) listens to any Duplex and hands each chunk
 * to TlsConnection.cycle() in JavaScript; NativeIO (native-io.ts) lets the addon read and write
 * a TCP socket itself through libuv, so ciphertext never enters JavaScript. The socket's TLS
 * logic (the gate, events, certificate requests) is the same over both.
 */
import type { NativeError, NativeTlsConnection } from './native.js';
import type { ReadControl } from './read-flow.js';

/** What the I/O path tells its socket. */
export interface IOEvents {
  /** JS path: a ciphertext chunk, the socket's to overwrite with plaintext when `owned`. */
  ciphertext(chunk: Buffer, owned: boolean): void;
  /**
   * Native path: what the records of one read gave, their answers already sent. The plaintext is
   * `placed`, then `plaintext`.
   */
  records(placed: Buffer | null, plaintext: Buffer | null, events: number, error: NativeError | null): void;
  /** The peer ended its side of the transport. */
  end(): void;
  error(error: Error): void;
  close(): void;
  /** The transport is connected: a client may send its first flight. */
  ready(): void;
}

/**
 * [events, error, consumed, flowing]: what sealing a write gave; `flowing` false means wait for
 * drain. `flowing` alone when every byte was sealed with no event and no error.
 */
export type SealResult = boolean | [number, NativeError | null, number, boolean];

export interface SocketIO extends ReadControl {
  /** Whether the addon owns the socket's reads and writes. */
  readonly native: boolean;
  /** Ciphertext the engine handed back; false when the transport asks the sender to wait for drain. */
  send(ciphertext: Buffer): boolean;
  /** Seals application data and sends it. */
  seal(handle: NativeTlsConnection, chunks: Buffer[]): SealResult;
  /** Half-closes once everything queued is handed to the kernel, then calls back. */
  end(callback: () => void): void;
  /** Sends a last alert (a failure, a denial) and half-closes; best effort. */
  endWith(alert: Buffer | null): void;
  destroy(): void;
  setRef(ref: boolean): void;
  /** Bytes the transport has yet to hand to the kernel. */
  readonly queued: number;
}
