/**
 * The native I/O path: the addon reads and writes the TCP socket itself through libuv (see
 * native/uv_transport.h), so ciphertext never enters JavaScript and plaintext crosses once per
 * read. The net.Socket stays the socket's face (addresses, options, timeouts, its close) but
 * never reads: a server accepts with pauseOnConnect, a client is paused before it connects.
 * POSIX only; Windows, and transports that are not a TCP net.Socket, keep StreamIO.
 */
import * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { native as nativeAddon, transportCalls, type NativeError, type NativeTlsConnection } from './native.js';
import type { IOEvents, SealResult, SocketIO } from './socket-io.js';
import type { Transport } from './transport-socket.js';

interface TcpHandle {
  fd?: number;
  reading?: boolean;
  readStart?: () => number;
  constructor?: { name?: string };
}

/** The net.Socket internals read here; present on every Node line this library supports. */
type NodeSocket = net.Socket & { _handle?: TcpHandle | null; _unrefTimer?: () => void };

/**
 * Whether the addon can take `transport` over: a TCP net.Socket on POSIX that nothing has read
 * from yet (still connecting, or accepted with pauseOnConnect) and nobody else listens to.
 */
export function canUseNativeTransport(transport: Transport, wanted: boolean | undefined): transport is net.Socket {
  if (wanted === false || process.platform === 'win32' || !(transport instanceof net.Socket)) return false;
  const handle = (transport as NodeSocket)._handle;
  if (handle?.constructor?.name !== 'TCP' || transport.destroyed) return false;
  if (transport.readableLength > 0 || transport.listenerCount('data') > 0) return false;
  return transport.connecting || handle.reading === false;
}

/** An error shaped like node's own socket errors (`read ECONNRESET`, code, errno, syscall). */
function systemError(code: string, errno: number, syscall: string): Error {
  return Object.assign(new Error(`${syscall} ${code}`), { errno, code, syscall });
}

/** attachTransport's answers when no descriptor is left for the copy: the process's limit, the system's. */
const OUT_OF_DESCRIPTORS = -osConstants.errno.EMFILE;
const SYSTEM_OUT_OF_DESCRIPTORS = -osConstants.errno.ENFILE;
// Taken once: a global replaced later by app code must not change how a read's room is read.
const RoomArrayBuffer = ArrayBuffer;

export class NativeIO implements SocketIO {
  readonly native = true;
  readonly #transport: NodeSocket;
  readonly #handle: NativeTlsConnection;
  readonly #events: IOEvents;
  #attached = false;
  #closed = false;
  #reading = true;
  /** The app paused the net.Socket itself (transport.pause()). */
  #heldByApp = false;
  #ref = true;
  #endDone = false;
  #peerEnded = false;
  #lastStats: [number, number, number] = [0, 0, 0];
  #drainWaiters: Array<() => void> = [];
  #endWaiters: Array<() => void> | null = null;

  /**
   * The native path for `transport`, or null where descriptors run short (the path holds a second
   * one per connection): the connection then takes the stream path, which needs none more.
   */
  static open(transport: net.Socket, handle: NativeTlsConnection, events: IOEvents): NativeIO | null {
    // Descriptors are handed out lowest first, so a connection's own number tells how many are in
    // use. Past half the limit, connections take the stream path: the native path's second
    // descriptor per connection must not cost the process the connections node:tls would hold.
    const fd = (transport as NodeSocket)._handle?.fd;
    if (typeof fd === 'number' && fd >= nativeAddon.descriptorLimit / 2) return null;
    const io = new NativeIO(transport, handle, events);
    return io.#outOfDescriptors ? null : io;
  }

  #outOfDescriptors = false;

  private constructor(transport: net.Socket, handle: NativeTlsConnection, events: IOEvents) {
    this.#transport = transport;
    this.#handle = handle;
    this.#events = events;
    if (!transport.connecting) {
      // Tried before anything of the net.Socket is taken over, so that falling back leaves it intact.
      const status = this.#attachDescriptor();
      if (status === OUT_OF_DESCRIPTORS || status === SYSTEM_OUT_OF_DESCRIPTORS) {
        this.#outOfDescriptors = true;
        return;
      }
      this.#listen();
      const attached = this.#afterAttach(status);
      // Reading starts on the next turn of the loop; what follows waits a tick so that the caller
      // can add its listeners first.
      process.nextTick(() => {
        if (attached) events.ready();
      });
      return;
    }
    // Paused, node's afterConnect does not start reading on its own handle. Before #listen(), which
    // turns the net.Socket's pause() into the app's hold on the addon's reads.
    transport.pause();
    this.#listen();
    transport.once('connect', () => {
      if (this.#afterAttach(this.#attachDescriptor())) events.ready();
    });
  }

  #listen(): void {
    const transport = this.#transport;
    const events = this.#events;
    transport.on('error', (error: Error) => events.error(error));
    transport.on('close', () => events.close());
    this.#steerStreamControls();
  }

  /**
   * Node's handle must never read the socket the addon reads: the bytes would be lost to the TLS
   * stream. So the net.Socket's pause(), resume() and isPaused() steer and report the addon's
   * reads instead, and its bytesRead and bytesWritten count the addon's traffic: code that pauses
   * the transport to stop a TLS socket reading, or watches its counters, keeps working.
   */
  #steerStreamControls(): void {
    const transport = this.#transport;
    Object.defineProperties(transport, {
      bytesRead: { configurable: true, get: () => this.#stats()[1] },
      bytesWritten: { configurable: true, get: () => this.#stats()[2] },
    });
    // Every way node's stream starts its handle reading (read(0) after connect or for a
    // 'readable' listener, read(), for await, pipe(), resume()) goes through _read: here it never
    // does. The handle's own readStart is the last gate, closed in #attach.
    transport._read = (): void => {};
    transport.isPaused = (): boolean => !this.#attached || !this.#reading || this.#heldByApp;
    transport.pause = (): net.Socket => {
      this.#heldByApp = true;
      this.#updateReading();
      return transport;
    };
    transport.resume = (): net.Socket => {
      this.#heldByApp = false;
      this.#updateReading();
      return transport;
    };
  }

  #updateReading(): void {
    if (!this.#attached || this.#closed) return;
    const status = this.#handle.setReading(this.#reading && !this.#heldByApp);
    if (status !== 0) {
      const error = systemError(getSystemErrorName(status), status, 'read');
      process.nextTick(() => this.#events.error(error));
    }
  }

  /** Hands the socket's descriptor to the addon; 0, or the negative errno of the failure. */
  #attachDescriptor(): number {
    if (this.#closed) return -9;
    const handle = this.#transport._handle;
    const fd = handle?.fd;
    const status =
      typeof fd === 'number' && fd >= 0
        ? this.#handle.attachTransport(fd, (kind, a, b, c, d, e) => this.#onCall(kind, a, b, c, d, e))
        : -9;
    // net.Socket#read calls readStart directly when the socket has an onread buffer; the handle
    // is the one connected (a client with autoSelectFamily tries one handle per address).
    if (status === 0 && handle) handle.readStart = (): number => 0;
    return status;
  }

  #afterAttach(status: number): boolean {
    if (this.#closed) return false;
    if (status !== 0) {
      const code = getSystemErrorName(status);
      const error = systemError(code, status, 'dup');
      process.nextTick(() => this.#events.error(error));
      return false;
    }
    this.#attached = true;
    this.#updateReading();
    if (!this.#ref) this.#handle.setTransportRef(false);
    return true;
  }

  #onCall(kind: number, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown): void {
    // Activity for the net.Socket's idle timer (setTimeout), as its own reads and writes do.
    this.#transport._unrefTimer?.();
    switch (kind) {
      case transportCalls.read: {
        const room = a as ArrayBuffer | Buffer | null;
        const placed = b as number;
        // The addon hands a room that is its plaintext alone, or mostly plaintext with a zeroed
        // tail: a bare ArrayBuffer for a small read (viewed here), else a Buffer.
        let placedPart: Buffer | null = null;
        if (room instanceof RoomArrayBuffer) placedPart = Buffer.from(room, 0, placed);
        else if (room !== null) placedPart = room.length === placed ? room : room.subarray(0, placed);
        this.#events.records(placedPart, c as Buffer | null, d as number, e as NativeError | null);
        break;
      }
      case transportCalls.end:
        this.#peerEnded = true;
        this.#events.end();
        this.#closeWhenBothEnded();
        break;
      case transportCalls.error:
        this.#events.error(systemError(a as string, b as number, c as string));
        break;
      case transportCalls.drain:
        this.#flushWaiters();
        break;
      case transportCalls.shutdown:
        this.#finishEnd();
        break;
    }
  }

  get queued(): number {
    return this.#stats()[0];
  }

  /** The addon's counts, kept once its socket is closed (net.Socket keeps its own likewise). */
  #stats(): [number, number, number] {
    const stats = this.#attached && !this.#closed ? this.#handle.transportStats() : null;
    if (stats !== null) this.#lastStats = [0, stats[1], stats[2]];
    return stats ?? this.#lastStats;
  }

  get destroyed(): boolean {
    return this.#closed || this.#transport.destroyed;
  }

  pause(): void {
    this.#reading = false;
    this.#updateReading();
  }

  resume(): void {
    this.#reading = true;
    this.#updateReading();
  }

  onceDrain(listener: () => void): void {
    this.#drainWaiters.push(listener);
  }

  #flushWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter();
  }

  /**
   * The engine writes its ciphertext to the socket itself once attached, so this only sees
   * bytes made before that: a client still connecting owes nothing to a peer it has not reached.
   */
  send(): boolean {
    return true;
  }

  seal(handle: NativeTlsConnection, chunks: Buffer[]): SealResult {
    const result = handle.send(chunks.length === 1 ? chunks[0]! : chunks);
    this.#transport._unrefTimer?.();
    return result;
  }

  end(callback: () => void): void {
    if (!this.#attached || this.destroyed || this.#endDone) {
      callback();
      return;
    }
    if (this.#endWaiters !== null) {
      this.#endWaiters.push(callback);
      return;
    }
    this.#endWaiters = [callback];
    // Refused at once (the socket is gone): nothing more can be sent either way.
    if (this.#handle.endTransport() !== 0) process.nextTick(() => this.#finishEnd());
  }

  #finishEnd(): void {
    this.#endDone = true;
    const waiters = this.#endWaiters ?? [];
    this.#endWaiters = null;
    for (const waiter of waiters) waiter();
    this.#closeWhenBothEnded();
  }

  /**
   * Both directions ended: the socket closes, as a net.Socket with allowHalfOpen does. The TLS
   * socket lives on while plaintext waits for its reader (TLSSocket#onTransportClose).
   */
  #closeWhenBothEnded(): void {
    if (!this.#peerEnded || !this.#endDone || this.#closed) return;
    this.#stats();
    this.#closed = true;
    this.#handle.closeTransport();
    this.#transport.destroy();
  }

  /** The engine has written the alert already; the close that follows ends the connection. */
  endWith(): void {}

  destroy(): void {
    if (!this.#closed) {
      this.#stats();
      this.#handle.closeTransport();
    }
    this.#closed = true;
    // The socket is closed: an end still waiting has nothing more to wait for.
    this.#finishEnd();
    this.#drainWaiters = [];
    if (!this.#transport.destroyed) this.#transport.destroy();
  }

  setRef(ref: boolean): void {
    this.#ref = ref;
    if (ref) this.#transport.ref();
    else this.#transport.unref();
    if (this.#attached && !this.#closed) this.#handle.setTransportRef(ref);
  }
}
