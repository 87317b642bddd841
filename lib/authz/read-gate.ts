/**
 * The attached tier's data gate: while a decision is pending or lapsed, nothing a node:tls socket
 * decrypted, or an open HTTP/2 stream received, reaches the application, whichever way it reads.
 */
import type { Readable } from 'node:stream';
import type { TlsHandle } from './tls-handle.js';

/** What the gate holds: a node:tls socket (with its TLS handle) or an HTTP/2 stream (without one). */
type Gated = Readable & { alpnProtocol?: string | false | null };

type Held = Buffer | string | Uint8Array | null;

/**
 * Decrypted bytes queued while held. The wire is stopped then, so only what node had already
 * received arrives, except during our own renegotiation, which must read the peer's handshake:
 * past this, the wire stops again and the renegotiation times out (denied).
 */
const MAX_HELD_BYTES = 1024 * 1024;

/**
 * Holds a node:tls socket's decrypted data for every way of reading it. Pausing only holds
 * `on('data')`: `read()`, `'readable'`, `for await` and `pipe()` all pull from the Readable buffer
 * through `socket.read()`, and node's HTTP/1 and HTTP/2 servers read the TLS handle natively.
 * So while held: the handle stops reading the wire (and a readStart from node's HTTP server is
 * deferred), chunks the handle still decrypts are queued instead of pushed, and `read()` returns
 * nothing, which also keeps what already sits in the Readable buffer. On release the queue is
 * pushed in order and readers are woken; on destroy it is dropped.
 *
 * An HTTP/2 stream has no handle the tier can reach, and its session reads the wire whatever the
 * socket's handle is told. Its gate answers `false` to each push while held instead: node's stream
 * reader then stops reading that stream (onStreamRead's readStop), so the peer's flow-control
 * window bounds what is queued, and the stream's own _read() starts it again after release.
 */
export class ReadGate {
  readonly #socket: Gated;
  readonly #handle: TlsHandle | null;
  readonly #start: () => number;
  readonly #push: (chunk: Held, encoding?: BufferEncoding) => boolean;
  readonly #read: (size?: number) => unknown;
  #held = false;
  #queue: Array<[Held, BufferEncoding | undefined]> = [];
  #queuedBytes = 0;
  #releasing = false;
  /** The wire is read while held: a renegotiation of ours needs the peer's handshake records. */
  #wireOpen = false;

  constructor(socket: Gated, handle: TlsHandle | null) {
    this.#socket = socket;
    this.#handle = handle;
    const start = handle?.readStart;
    const push = socket.push;
    const read = socket.read;
    // Without a handle, reading starts again through the stream's own _read(), which read(0) calls.
    this.#start = handle === null || start === undefined ? () => read.call(socket, 0) : () => start.call(handle);
    this.#push = (chunk, encoding) => push.call(socket, chunk, encoding);
    this.#read = (size) => read.call(socket, size);
    // Own properties shadow node's prototype methods on this one socket and handle. node itself
    // calls them by name: net's onStreamRead does `stream.push(buf)`, Readable's flow, resume and
    // async iterator do `stream.read()`, and net / the HTTP server do `handle.readStart()`.
    if (handle !== null && start !== undefined)
      handle.readStart = () => (this.#held && !this.#wireOpen ? 0 : start.call(handle));
    socket.push = (chunk: Held, encoding?: BufferEncoding): boolean => {
      if (!this.#held && this.#queue.length === 0) return push.call(socket, chunk, encoding);
      if (socket.destroyed) return false;
      this.#queue.push([chunk, encoding]);
      this.#queuedBytes += chunk === null ? 0 : chunk.length;
      if (handle === null) return false;
      if (this.#queuedBytes > MAX_HELD_BYTES && this.#wireOpen) {
        this.#wireOpen = false;
        handle.readStop();
      }
      return true;
    };
    socket.read = ((size?: number) =>
      this.#held || this.#queue.length > 0 ? null : read.call(socket, size)) as typeof socket.read;
  }

  /** Whether a native consumer (node's HTTP/1 parser, an HTTP/2 session) reads the handle, past push(). */
  readNatively(): boolean {
    return (
      (this.#handle as (TlsHandle & { _consumed?: unknown }) | null)?._consumed === true ||
      this.#socket.alpnProtocol === 'h2'
    );
  }

  close(): void {
    if (this.#held) return;
    this.#held = true;
    if (!this.#wireOpen) this.#handle?.readStop();
  }

  /**
   * Our own renegotiation is running: read the wire (its handshake records arrive there) while
   * the data it decrypts stays queued. Returns the function that ends this.
   */
  openWire(): () => void {
    if (this.#held && this.#queuedBytes <= MAX_HELD_BYTES) {
      this.#wireOpen = true;
      this.#start();
    }
    return () => {
      if (!this.#wireOpen) return;
      this.#wireOpen = false;
      if (this.#held) this.#handle?.readStop();
    };
  }

  open(): void {
    if (!this.#held) return;
    this.#held = false;
    // Not now: the engine releases from inside its own bookkeeping, and readers run app code.
    // Until then the queue keeps later chunks behind the held ones.
    if (this.#releasing) return;
    this.#releasing = true;
    process.nextTick(() => {
      this.#releasing = false;
      this.#drain();
    });
  }

  #drain(): void {
    const socket = this.#socket;
    while (!this.#held && !socket.destroyed && this.#queue.length > 0) {
      const [chunk, encoding] = this.#queue.shift()!;
      this.#queuedBytes -= chunk === null ? 0 : chunk.length;
      this.#push(chunk, encoding);
    }
    if (this.#held || socket.destroyed) return;
    // The handle stopped at close(); start it again unless net had stopped it for backpressure
    // (net sets `reading` false then, and starts it itself once the buffer drains).
    if (this.#handle?.reading !== false) this.#start();
    // Readers that met a held read() wait for an event that pushing into a non-empty buffer does
    // not send: a flowing socket is flowed as Readable's flow() does, 'readable' readers are told.
    if (socket.readableLength === 0) return;
    if (socket.readableFlowing === true) {
      while (!this.#held && socket.readableFlowing === true && !socket.destroyed && this.#read() !== null);
    } else if (socket.listenerCount('readable') > 0) {
      socket.emit('readable');
    }
  }

  drop(): void {
    this.#queue = [];
    this.#queuedBytes = 0;
  }
}
