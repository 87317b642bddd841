/**
 * The attached tier's write gate: while a connection is held (a decision pending or lapsed, or a
 * denial kept open), what the application writes to a node:tls socket or an open HTTP/2 stream
 * (its data here, its headers and files through held-stream-sends.ts) waits instead of reaching
 * the peer, as the owned tier parks its writes.
 */
import type { Writable } from 'node:stream';

type WriteCallback = (error?: Error | null) => void;
type Chunks = Array<{ chunk: unknown; encoding: BufferEncoding }>;

/**
 * Holds a Writable's writes. Writable calls `_write`, `_writev` and `_final` by name (net.Socket
 * and node's HTTP/2 streams implement them on their prototypes), so own properties on this one
 * stream stand in for them: while held each call is parked with its callback, and on release the
 * parked calls run in order. Writable sends one write at a time to them and waits for its callback,
 * so nothing passes a parked write, and what the app writes meanwhile stays in the Writable's own
 * buffer, bounded by its highWaterMark for an app that heeds write()'s answer.
 */
export class WriteGate {
  #held = false;
  #parked: Array<() => void> = [];
  #releasing = false;

  /**
   * `passEmpty`: let an empty write through while held (the TLS socket's gate only). On a TLS socket
   * it carries nothing to the peer, and node's renegotiate() writes one to drive the handshake of a
   * renegotiation (our fresh re-authentication), which runs while held. On an HTTP/2 stream it is
   * not empty on the wire: a stream that has not responded responds (200) to write it.
   */
  constructor(stream: Writable, { passEmpty = false }: { passEmpty?: boolean } = {}) {
    const write = stream._write;
    const writev = stream._writev;
    const final = stream._final;
    stream._write = (chunk: unknown, encoding: BufferEncoding, callback: WriteCallback): void => {
      if (passEmpty && (chunk as { length?: unknown }).length === 0 && this.#parked.length === 0)
        write.call(stream, chunk, encoding, callback);
      else this.#run(() => write.call(stream, chunk, encoding, callback));
    };
    if (typeof writev === 'function') {
      stream._writev = (chunks: Chunks, callback: WriteCallback): void => {
        this.#run(() => writev.call(stream, chunks, callback));
      };
    }
    if (typeof final === 'function') {
      stream._final = (callback: WriteCallback): void => {
        this.#run(() => final.call(stream, callback));
      };
    }
  }

  #run(call: () => void): void {
    if (this.#held || this.#parked.length > 0) this.#parked.push(call);
    else call();
  }

  /**
   * Parks `call` in order with the writes if the gate is held or has writes waiting, and answers
   * true; else answers false and the caller runs it now. For sends that bypass `_write` (an HTTP/2
   * stream's respond(), see held-stream-sends.ts).
   */
  park(call: () => void): boolean {
    if (!this.#held && this.#parked.length === 0) return false;
    this.#parked.push(call);
    return true;
  }

  close(): void {
    this.#held = true;
  }

  open(): void {
    if (!this.#held) return;
    this.#held = false;
    // Not now: the engine releases from inside its own bookkeeping. Until then new writes queue
    // behind the parked ones.
    if (this.#parked.length === 0 || this.#releasing) return;
    this.#releasing = true;
    process.nextTick(() => {
      this.#releasing = false;
      while (!this.#held && this.#parked.length > 0) this.#parked.shift()!();
    });
  }

  /** The stream is gone: what was parked is dropped with it. */
  drop(): void {
    this.#parked = [];
  }
}
