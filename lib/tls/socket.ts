/**
 * TLSSocket: a Duplex of plaintext over any transport carrying ciphertext.
 *
 * Data path: transport 'data' -> TlsConnection.cycle(chunk) -> plaintext goes to the reader only
 * while the data gate is open; ciphertext (handshake flights, alerts, post-handshake messages)
 * goes straight back to the transport. Application writes likewise wait at the gate, which is
 * closed until the handshake is authorized and whenever something holds it: a certificate
 * request, a pending or lapsed decision. Over a TCP net.Socket on POSIX the addon does the
 * reading, the record loop and the writing itself and hands over only the plaintext
 * (native-io.ts); the rest of this file is the same over both paths (socket-io.ts).
 *
 * This file keeps what works on the socket's own state: the Duplex methods, the transport's
 * wiring, the end of the stream, the handshake's completion and the node:tls-shaped getters.
 * Longer than ~500 lines because each of those reads and writes both the native handle and the
 * stream's state; moving one out would need a wide internal interface. The units with one job
 * each sit next to it: data-gate.ts, certificate-request.ts, peer-certificate.ts,
 * peer-verification.ts, read-flow.ts, alerts.ts, socket-options.ts, transport-socket.ts,
 * socket-io.ts with stream-io.ts and native-io.ts.
 */
import { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import { codeOfThrown, ctlsError, invalidOption, ownedError } from '../common/errors.js';
import { checkBoolean, checkCount, checkString } from '../common/validate.js';
import type { Decision, NoArgumentListener } from '../common/types.js';
import { native, type NativeError, type NativeTlsConnection } from './native.js';
import { tlsError } from './native-errors.js';
import { contextHandle, type SecureContext } from './context.js';
import { denialAlert, queuedAlert } from './alerts.js';
import { DataGate, DEFAULT_MAX_HELD_BYTES, type WriteCallback } from './data-gate.js';
import {
  CertificateRequests,
  type CertificateRequestHost,
  type CertificateRequestOptions,
} from './certificate-request.js';
import { askIdentity, presentIdentity, type Identity, type IdentityProvider } from './identity.js';
import { legacyPeerCertificate, PeerChain, type PeerCertificateResult } from './peer-certificate.js';
import { exchangeVerdict, handshakeOutcome, type ExchangeVerdict } from './peer-verification.js';
import { ReadFlow } from './read-flow.js';
import { askSniCallback } from './sni.js';
import { bytesOf, nativeConnectionOptions, socketLimits, type SocketOptions } from './socket-options.js';
import {
  kCertificateEpoch,
  kDeny,
  kEngineRequest,
  kExchangeVerdict,
  kOwner,
  kTransportQueue,
  kVerifiedChain,
  type SocketOwner,
} from './symbols.js';
import { TransportSocket, type Transport } from './transport-socket.js';
import type { IOEvents, SealResult, SocketIO } from './socket-io.js';
import { StreamIO } from './stream-io.js';
import { NativeIO, canUseNativeTransport } from './native-io.js';
import { timerDelay } from '../common/timers.js';

export {
  kCertificateEpoch,
  kDeny,
  kEngineRequest,
  kExchangeVerdict,
  kOwner,
  kTransportQueue,
  kVerifiedChain,
  DEFAULT_MAX_HELD_BYTES,
  tlsError,
};
export type {
  CertificateRequestOptions,
  ExchangeVerdict,
  Identity,
  IdentityProvider,
  PeerCertificateResult,
  SocketOwner,
  Transport,
};

const EVENTS = native.events;

/** What the authorization engine plugs into a socket (see authorizer.ts). */
export interface SocketAuthorizer {
  /** Called once the handshake verified; resolves true to open the gate. */
  onSecure(socket: TLSSocket): Promise<boolean>;
  /**
   * Called, synchronously and before any byte of the peer's under it is delivered, when a
   * certificate arrives that the engine did not ask for itself (app code called
   * requestCertificate()); the engine holds the data until it has decided on it.
   */
  onCertificate(socket: TLSSocket): void;
}

export type TLSSocketOptions = SocketOptions<SocketAuthorizer>;

const HANDSHAKE_HOLD = 'handshake';
const REAUTH_HOLD = 'reauthentication';

/** The events of a TLSSocket: its own, then the stream events every Duplex has. */
export interface TLSSocketEvents {
  /** Server side: the handshake completed and, when an engine runs, the connection was authorized. */
  secure: NoArgumentListener;
  /** Client side: the handshake completed and the server's certificate was checked. */
  secureConnect: NoArgumentListener;
  /** Client side: a TLS session to resume with (pass it as `session` to connect()). */
  session: (session: Buffer) => void;
  /** The peer presented a certificate after the handshake (requestCertificate()). */
  certificate: (result: PeerCertificateResult) => void;
  /** Every hold was released: held data flows again. */
  gateopen: NoArgumentListener;
  /** A re-check allowed the connection again (after the first decision). */
  reauthorized: (decision: Decision) => void;
  /** A decision denied the connection; unless `destroyOnDeny: false`, 'close' follows. */
  deauthorized: (decision: Decision) => void;
  /** Internal: a handshake failure reported to the owning server. */
  _tlsClientError: (error: Error) => void;
  /** The transport was idle for setTimeout()'s time. */
  timeout: NoArgumentListener;
  close: (hadError: boolean) => void;
  data: (chunk: Buffer) => void;
  drain: NoArgumentListener;
  end: NoArgumentListener;
  error: (error: Error) => void;
  finish: NoArgumentListener;
  pause: NoArgumentListener;
  pipe: (source: NodeJS.ReadableStream) => void;
  readable: NoArgumentListener;
  resume: NoArgumentListener;
  unpipe: (source: NodeJS.ReadableStream) => void;
}

type SocketEventName = keyof TLSSocketEvents;

/** Typed listeners: `socket.on('session', (session) => …)` is checked against TLSSocketEvents. */
export interface TLSSocket {
  on<K extends SocketEventName>(event: K, listener: TLSSocketEvents[K]): this;
  once<K extends SocketEventName>(event: K, listener: TLSSocketEvents[K]): this;
  addListener<K extends SocketEventName>(event: K, listener: TLSSocketEvents[K]): this;
  prependListener<K extends SocketEventName>(event: K, listener: TLSSocketEvents[K]): this;
  prependOnceListener<K extends SocketEventName>(event: K, listener: TLSSocketEvents[K]): this;
  off<K extends SocketEventName>(event: K, listener: TLSSocketEvents[K]): this;
  removeListener<K extends SocketEventName>(event: K, listener: TLSSocketEvents[K]): this;
  emit<K extends SocketEventName>(event: K, ...args: Parameters<TLSSocketEvents[K]>): boolean;
}

/** The most keying material exportKeyingMaterial() derives in one call (RFC 5705 has no bound). */
const MAX_KEYING_MATERIAL = 65_536;

/** The fields of node's Readable state the hand-over reads, the same on Node 20, 22 and 24. */
interface ReadableInternals {
  flowing: boolean | null;
  length: number;
  ended: boolean;
  objectMode: boolean;
  decoder: unknown;
  dataEmitted: boolean;
  sync: boolean;
  multiAwaitDrain: boolean;
  awaitDrainWriters: unknown;
}

function readableState(stream: object): ReadableInternals {
  return (stream as unknown as { _readableState: ReadableInternals })._readableState;
}

export class TLSSocket extends TransportSocket {
  readonly encrypted = true;
  authorized = false;
  authorizationError: string | null = null;
  /** Why the socket was closed by the library (deauthorization, timeout …), if it was. */
  destroyReason: Error | null = null;
  readonly createdAt = Date.now();

  #handle: NativeTlsConnection | null;
  #options: TLSSocketOptions;
  #context: SecureContext;
  #gate: DataGate;
  /** Created by the first requestCertificate(): most connections never make one. */
  #requests: CertificateRequests | null = null;
  #reads: ReadFlow;
  #io: SocketIO;
  #secure = false;
  #handshakeTimer: NodeJS.Timeout | null = null;
  /** The peer's chain of the latest exchange, read on first use. */
  #peer: PeerChain | null = null;
  #info: ReturnType<NativeTlsConnection['getInfo']> | null = null;
  #session: Buffer | null = null;
  #closeNotifyReceived = false;
  /** The peer ended, and the end waits behind held plaintext the reader has not taken yet. */
  #endAfterHeld = false;
  [kCertificateEpoch] = 0;
  [kExchangeVerdict]: ExchangeVerdict | null = null;
  [kOwner]: SocketOwner | undefined = undefined;
  /** push(null) is done: the readable side ends once its buffer is read. */
  #endQueued = false;
  /** _final waits for a parked write to go first. */
  #finalCallback: WriteCallback | null = null;
  /** The in-flight write's callback while it waits for the transport to drain (#awaitDrain). */
  #drainCallback: WriteCallback | null = null;
  /** Client: asked for the identity at each certificate request (the `identity` option as a function). */
  #identityProvider: IdentityProvider | null = null;
  #identityTimeout: number;
  /** Client: the handshake waits at a certificate request for the provider's answer. */
  #identityAsked = false;

  constructor(transport: Transport, options: TLSSocketOptions) {
    super(transport, { allowHalfOpen: options.allowHalfOpen ?? false, highWaterMark: options.highWaterMark });
    this.#options = options;
    this.#context = options.secureContext;
    const { maxHeldBytes, handshakeTimeout, identityTimeout } = socketLimits(options);
    const nativeTransport = checkBoolean('nativeTransport', options.nativeTransport);
    this.#identityTimeout = identityTimeout;
    this.#gate = new DataGate(
      {
        push: (chunk) => this.push(chunk),
        write: (chunks, callback) => this.#writeChunks(chunks, callback),
        fail: (error) => this.#fail(error),
      },
      maxHeldBytes,
      options.heldBudget ?? null,
    );
    this.#gate.hold(HANDSHAKE_HOLD);
    const connectionOptions = nativeConnectionOptions(options);
    this.#handle = new native.TlsConnection(contextHandle(this.#context), options.isServer, connectionOptions);
    if (typeof options.identity === 'function') this.#identityProvider = options.identity;
    else if (options.identity !== undefined) this.setIdentity(options.identity);

    // Handshake and re-authentication flights are small and latency-bound;
    // Nagle would hold them back until the peer's delayed ACK.
    transport.setNoDelay?.(true);
    const events: IOEvents = {
      ciphertext: (chunk, owned) => this.#cycle(chunk, false, owned),
      records: (placed, plaintext, events, error) => this.#afterRecords(events, error, placed, plaintext),
      end: () => this.#onTransportEnd(),
      error: (error) => this.#fail(error),
      close: () => this.#onTransportClose(),
      // A client speaks first; a server waits for the ClientHello.
      ready: () => {
        if (!options.isServer) this.#cycle(undefined);
      },
    };
    this.#io =
      (canUseNativeTransport(transport, nativeTransport) ? NativeIO.open(transport, this.#handle, events) : null) ??
      new StreamIO(transport, events);
    this.#reads = new ReadFlow(this.#io, () => this.#unblockInput());
    if (handshakeTimeout > 0) {
      this.#handshakeTimer = setTimeout(() => {
        this.#fail(ctlsError('ERR_CTLS_HANDSHAKE_TIMEOUT', `TLS handshake timed out after ${handshakeTimeout} ms`));
      }, timerDelay(handshakeTimeout));
      this.#handshakeTimer.unref();
    }
  }

  get isServer(): boolean {
    return this.#options.isServer;
  }

  /** The context whose trust store verifies the peer. */
  get secureContext(): SecureContext {
    return this.#context;
  }

  override ref(): this {
    this.#io.setRef(true);
    return this;
  }

  override unref(): this {
    this.#io.setRef(false);
    return this;
  }

  /** Bytes the transport has yet to write (the addon's queue on the native path). */
  get [kTransportQueue](): number {
    return this.#io.queued;
  }

  /** Whether the addon reads and writes the transport itself (see native-io.ts). */
  get nativeTransport(): boolean {
    return this.#io.native;
  }

  // ---- data path -------------------------------------------------------

  #cycle(chunk: Buffer | undefined, endOfInput = false, inPlace = false): void {
    const handle = this.#handle;
    if (handle === null) return;
    let result;
    try {
      result = handle.cycle(chunk, endOfInput, inPlace);
    } catch (error) {
      this.#fail(error as Error);
      return;
    }
    const [plaintext, ciphertext, events, error, placed, own] = result;
    if (ciphertext !== null && !this.#io.send(ciphertext)) this.#reads.awaitDrain();
    // `own`: the placed plaintext copied out of a chunk mostly of padding (the chunk may be detached).
    const placedPart = placed === 0 ? null : (own ?? chunk!.subarray(0, placed));
    this.#afterRecords(events, error, placedPart, plaintext);
  }

  /** What a cycle gave, its ciphertext sent: events first, then the plaintext (in place, then fresh). */
  #afterRecords(events: number, error: NativeError | null, placed: Buffer | null, plaintext: Buffer | null): void {
    if (events !== 0) this.#onEvents(events, error);
    if (placed !== null && !this.destroyed) this.#deliver(placed);
    if (plaintext !== null && !this.destroyed) this.#deliver(plaintext);
    if (events & EVENTS.closeNotify) this.#onCloseNotify();
    // A renegotiation that finished lets a write parked behind it go on.
    if (this.#gate.hasParked && !this.#gate.closed()) this.#flushParked();
  }

  #onEvents(events: number, error: NativeError | null): void {
    if (events & EVENTS.fatal) {
      this.#fail(tlsError(error));
      return;
    }
    if (events & EVENTS.clientHello) this.#onClientHello();
    if (events & EVENTS.identityWanted) this.#onIdentityWanted();
    if (events & EVENTS.newSession) {
      this.#session = this.#handle?.getSession() ?? null;
      if (this.#session !== null) this.emit('session', this.#session);
    }
    if (events & EVENTS.handshakeDone) this.#onHandshakeDone();
    if (events & EVENTS.reauthDone) this.#onReauthDone();
  }

  #deliver(plaintext: Buffer): void {
    const gate = this.#gate;
    if (gate.mustHold()) {
      // Held data is bounded by the readable highWaterMark: beyond it the
      // transport stops reading, so the peer feels backpressure, not loss.
      // Not while a certificate request is out: the answer sits behind the
      // data already in flight, and only reading on reaches it (maxHeldBytes
      // bounds that case instead, see DataGate#keep).
      if (gate.keep(plaintext) && gate.heldBytes >= this.readableHighWaterMark && !this.#requestOut()) {
        this.#reads.pause();
      }
      return;
    }
    if (this.#canHandOver()) {
      this.#handOver(plaintext);
      return;
    }
    if (!this.push(plaintext)) this.#reads.pause();
  }

  /**
   * Whether a chunk may go to the 'data' listeners at once, as push() would hand it: the stream
   * flows, nothing is buffered ahead of it, not inside read(), no decoder or object mode, the
   * readable side not ended.
   * push() would then emit it all the same, but first run its checks and schedule a read-more tick
   * per chunk, which the native path has no use for: it goes on reading until paused.
   */
  #canHandOver(): boolean {
    const state = readableState(this);
    return (
      state.flowing === true &&
      state.length === 0 &&
      // Not from inside read() (its _read() resumed the transport, which delivered at once): read()
      // is not done with its own bookkeeping, and a 'data' listener run here would re-enter it.
      !state.sync &&
      !state.ended &&
      !state.objectMode &&
      state.decoder === null &&
      this.listenerCount('data') > 0
    );
  }

  #handOver(plaintext: Buffer): void {
    const state = readableState(this);
    // What push() records before it emits: a chunk handed on ends a pipe's wait for its
    // destinations to drain, and readableDidRead tells.
    if (state.multiAwaitDrain) (state.awaitDrainWriters as Set<unknown>).clear();
    else state.awaitDrainWriters = null;
    if (!state.dataEmitted) state.dataEmitted = true;
    this.emit('data', plaintext);
  }

  #requestOut(): boolean {
    return this.#requests !== null && this.#requests.outstanding;
  }

  /** A reason of our own to stop reading is gone: read again unless the reader's backpressure still holds. */
  #unblockInput(): void {
    if (this.destroyed) return;
    const gate = this.#gate;
    const wantsInput = gate.closed()
      ? this.#requestOut() || gate.heldBytes < this.readableHighWaterMark
      : !gate.holding && this.readableLength < this.readableHighWaterMark;
    if (wantsInput) this.#reads.resume();
  }

  override _read(): void {
    const gate = this.#gate;
    if (gate.closed()) return;
    gate.flushHeld();
    if (gate.holding) return;
    if (this.#endAfterHeld) this.#endReadable();
    else this.#reads.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    this.#writeChunks([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: WriteCallback): void {
    this.#writeChunks(
      chunks.map((entry) => entry.chunk),
      callback,
    );
  }

  #writeChunks(chunks: Buffer[], callback: WriteCallback): void {
    if (this.#gate.closed()) {
      this.#gate.park(chunks, callback);
      return;
    }
    const handle = this.#handle;
    if (handle === null) {
      callback(ctlsError('ERR_CTLS_SOCKET_CLOSED', 'write after the TLS connection was destroyed'));
      return;
    }
    let result: SealResult;
    try {
      result = this.#io.seal(handle, chunks);
    } catch (error) {
      callback(error as Error);
      return;
    }
    if (typeof result === 'boolean') {
      if (result) callback();
      else this.#awaitDrain(callback);
      return;
    }
    const [events, error, consumed, flowing] = result;
    if (events & EVENTS.fatal) {
      const failure = tlsError(error);
      callback(failure);
      this.#fail(failure);
      return;
    }
    // The write ran into a certificate request: it is parked below until the identity is in.
    if (events & EVENTS.identityWanted) this.#onIdentityWanted();
    const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    if (consumed < total) {
      // A renegotiation blocks writing until the peer's flight arrives.
      this.#gate.park([concatTail(chunks, consumed)], callback);
      return;
    }
    if (flowing) callback();
    else this.#awaitDrain(callback);
  }

  /**
   * The write is out, but the transport's queue is past its mark: its callback waits for the
   * drain. Writable has one write in flight at a time, so there is at most one such callback.
   * A destroyed socket never drains: _destroy calls it with an error (see there).
   */
  #awaitDrain(callback: WriteCallback): void {
    this.#drainCallback = callback;
    this.#io.onceDrain(() => {
      if (this.#drainCallback !== callback) return;
      this.#drainCallback = null;
      callback();
    });
  }

  override _final(callback: WriteCallback): void {
    if (!this.#secure || this.#handle === null) {
      this.#io.end(() => callback());
      return;
    }
    if (this.#gate.hasParked) {
      // Let parked data go first; _final runs again once it is flushed.
      this.#finalCallback = callback;
      return;
    }
    const closeNotify = this.#handle.shutdown();
    if (closeNotify !== null) this.#io.send(closeNotify);
    // Finished only once everything is handed to the kernel (see StreamIO#end).
    this.#io.end(() => callback());
  }

  override _destroy(error: Error | null, callback: WriteCallback): void {
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    this.#requests?.abandon(error ?? this.destroyReason);
    // The transport first: the native path reads its last counts from the handle.
    this.#io.destroy();
    this.#handle?.destroy();
    this.#handle = null;
    this.#gate.discard();
    // A write waiting for a drain that will not come. Writable learns it ended only from its
    // callback; with one in flight it errors none of the writes buffered behind it either, so a
    // caller awaiting any of their callbacks would wait for ever (node:tls calls them all).
    const drainCallback = this.#drainCallback;
    this.#drainCallback = null;
    drainCallback?.(ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket was destroyed before the data could be sent'));
    this.#finalCallback?.(null);
    this.#finalCallback = null;
    callback(error);
  }

  #onTransportEnd(): void {
    if (!this.#secure && this.#handle !== null && !this.destroyed) {
      // The peer left mid-handshake (or mid-record): let OpenSSL judge the
      // cut, so it surfaces as a coded failure (tlsClientError on a server)
      // instead of a quiet end. Node reports this case as ECONNRESET.
      this.#cycle(undefined, true);
      if (this.destroyed) return;
      this.#fail(ctlsError('ERR_CTLS_TLS', 'the peer closed the connection before the TLS handshake completed'));
      return;
    }
    // Bytes the gate still holds were never authorized; end() does not release them.
    if (!this.#closeNotifyReceived) this.#endReadable();
  }

  #onTransportClose(): void {
    if (this.destroyed) return;
    // The peer ended cleanly but 'end' is still to come: its last plaintext
    // waits for a paused reader, or the event for its tick. Destroying now
    // would drop both; the reader gets every byte and 'end' first, as with
    // node:tls.
    if ((this.#endQueued || this.#endAfterHeld) && !this.readableEnded) {
      this.once('end', () => this.destroy());
      return;
    }
    this.destroy();
  }

  #onCloseNotify(): void {
    // OpenSSL reports the close_notify again at each later read: it ends the readable side once.
    if (this.#closeNotifyReceived) return;
    this.#closeNotifyReceived = true;
    this.#endReadable();
  }

  #endReadable(): void {
    if (this.#gate.holding && this.#gate.closed()) {
      // Keep them until the gate decides; if it opens, end follows the data.
      this.once('gateopen', () => this.#endReadable());
      return;
    }
    this.#gate.flushHeld();
    if (this.#gate.holding) {
      // The reader is behind: the rest of the held plaintext goes out as it reads (_read), and the
      // end after it. Ending now would drop it: a truncation the peer's close_notify never allowed.
      this.#endAfterHeld = true;
      return;
    }
    this.#endAfterHeld = false;
    this.push(null);
    this.#endQueued = true;
    // As net.Socket does at EOF: with nothing buffered, 'end' follows even
    // when nobody reads.
    this.read(0);
    // Without allowHalfOpen the peer's end closes us too, even when nobody
    // consumes the readable side (Duplex only does that on 'end', which
    // needs a reader).
    if (!this.allowHalfOpen && !this.writableEnded) this.end();
  }

  // ---- gate ------------------------------------------------------------

  /**
   * The current authorization lapses at `at` (epoch ms on `now`'s clock):
   * from then on the gate holds as if hold() had been called, until a new
   * deadline is set (by the next allowing decision).
   */
  setDeadline(at: number, now: () => number = Date.now): void {
    const gate = this.#gate;
    const wasClosed = gate.closed();
    gate.setDeadline(at, now);
    // A deadline that passed closed the gate with no hold to release (a re-check that began
    // before the lapse takes none): the new one reopens it, and what it kept must flow now.
    if (wasClosed && !gate.closed() && !this.destroyed) this.#gateOpened();
  }

  /** Stop delivering inbound plaintext and sending outbound writes until released. */
  hold(reason: string): void {
    this.#gate.hold(reason);
  }

  /** Remove one hold; when none remain, held data flows in order. */
  release(reason: string): void {
    const gate = this.#gate;
    if (!gate.release(reason) || this.destroyed) return;
    this.#gateOpened();
  }

  /** The gate is open again: held data flows in order, reading resumes, the parked write goes. */
  #gateOpened(): void {
    const gate = this.#gate;
    this.emit('gateopen');
    gate.flushHeld();
    if (!gate.holding && this.readableLength < this.readableHighWaterMark) this.#reads.resume();
    this.#flushParked();
  }

  /** Sends the parked write, then the close_notify an end() left waiting behind it. */
  #flushParked(): void {
    const gate = this.#gate;
    gate.flushParked();
    if (this.#finalCallback !== null && !gate.hasParked && !this.destroyed) {
      const callback = this.#finalCallback;
      this.#finalCallback = null;
      this._final(callback);
    }
  }

  /** Whether the gate currently holds data (pending or lapsed authorization). */
  get gateHeld(): boolean {
    return this.#gate.closed();
  }

  // ---- handshake -------------------------------------------------------

  #onClientHello(): void {
    this.#reads.holdForHello();
    askSniCallback(this.#options.SNICallback, this.#handle?.getInfo().servername ?? '', (error, context) => {
      if (this.destroyed || this.#handle === null) return;
      if (error) {
        this.#fail(error);
        return;
      }
      this.#handle.setContext(context === undefined ? undefined : contextHandle(context));
      // The context chosen for the name verifies the client too, now and at every re-check.
      if (context !== undefined) this.#context = context;
      this.#reads.helloAnswered();
      this.#cycle(undefined);
      this.#unblockInput();
    });
  }

  #onHandshakeDone(): void {
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    this.#info = null;
    this.#peer = null;
    const peer = this.#peerChain();
    const outcome = handshakeOutcome(this.#handle, this.#context, peer, this.#options);
    this.authorized = outcome.authorized;
    this.authorizationError = outcome.error;
    this.#recordExchange(peer.der.length > 0, outcome.notAfter);
    if (outcome.failure !== null) {
      this.#fail(outcome.failure);
      return;
    }
    this.#secure = true;
    const authorizer = this.#options.authorizer;
    if (authorizer === undefined) {
      this.#announceSecure();
      return;
    }
    authorizer.onSecure(this).then(
      (allowed) => {
        if (allowed && !this.destroyed) this.#announceSecure();
      },
      (error: Error) => this.#fail(error),
    );
  }

  #recordExchange(presented: boolean, notAfter?: number): void {
    const epoch = ++this[kCertificateEpoch];
    const ok = presented && this.authorized;
    const context = this.#context;
    this[kExchangeVerdict] = exchangeVerdict(this.#handle, context, epoch, ok, this.authorizationError, notAfter);
  }

  #announceSecure(): void {
    this.release(HANDSHAKE_HOLD);
    this.emit(this.#options.isServer ? 'secure' : 'secureConnect');
  }

  /** The connection's current authorization decision (null before the first one). */
  get decision(): Decision | null {
    return this[kOwner]?.decisionOf(this) ?? null;
  }

  /** Is the TLS handshake complete (and authorized, when an authorizer runs)? */
  get secureEstablished(): boolean {
    return this.#secure;
  }

  // ---- re-authentication -----------------------------------------------

  /**
   * Server side: ask the live client for a fresh certificate (TLS 1.3
   * post-handshake auth, TLS 1.2 renegotiation) and resolve with the new
   * chain once it verified. Inbound data is held while the request is out.
   * Concurrent calls share one request.
   */
  requestCertificate(options?: CertificateRequestOptions): Promise<PeerCertificateResult> {
    this.#requests ??= new CertificateRequests(this.#requestHost());
    return this.#requests.request(this.destroyed ? null : this.#handle, options);
  }

  #requestHost(): CertificateRequestHost {
    return {
      hold: () => this.hold(REAUTH_HOLD),
      release: () => {
        // The authorizer (if any) holds the gate on its own until its decision.
        this.release(REAUTH_HOLD);
        if (this.#gate.closed() && this.#gate.heldBytes >= this.readableHighWaterMark) this.#reads.pause();
      },
      send: (request) => {
        if (request !== null) this.#io.send(request);
        // Backpressure from the app must not keep us from reading the answer.
        this.#reads.resume();
      },
      timedOut: (error) => {
        this.destroyReason = error;
        this.#fail(error);
      },
      adopt: (result, outsideEngine) => {
        this.authorized = result.verified;
        this.authorizationError = result.verified ? null : (result.verifyError ?? 'NO_PEER_CERTIFICATE');
        if (result.verified) this.#rememberVerifiedChain(result.der[0]);
        this.#recordExchange(result.der.length > 0);
        // Whoever asked, a new identity passes nothing until the policy has decided on it: the
        // engine holds the data from here (its own requests hold already).
        if (outsideEngine) this.#options.authorizer?.onCertificate(this);
        this.emit('certificate', result);
      },
    };
  }

  /**
   * After a certificate request verified: the chain OpenSSL built (leaf first, anchor last) is what
   * the leaf's resumed sessions are verified with, never the extras presented beside it.
   */
  #rememberVerifiedChain(leaf: Buffer | undefined): void {
    const verified = this.#handle?.getVerifiedChain() ?? [];
    if (leaf !== undefined && verified[0]?.equals(leaf) === true) this.#context.rememberVerifiedChain(verified);
  }

  #onReauthDone(): void {
    this.#info = null;
    this.#peer = null;
    if (!this.#requestOut()) return;
    this.#requests!.complete(this.#peerChain().result(this.#handle?.getVerifyError() ?? null));
  }

  /** Is a certificate request outstanding? */
  get reauthenticating(): boolean {
    return this.#requestOut();
  }

  /**
   * Client side: the identity presented at the next certificate request. With an identity
   * provider, the provider's answer at that request replaces it.
   */
  setIdentity(identity: Identity): void {
    presentIdentity(this.#handle, identity);
  }

  /**
   * Client side: the server asked for a certificate and OpenSSL waits for ours. The provider's
   * answer becomes the identity and the exchange goes on; when the provider fails or is too slow
   * the connection fails: presenting the previous identity would pass a stale (perhaps revoked)
   * certificate off as current, and presenting none would leave the server to decide on an
   * anonymous client while the app never learns why.
   */
  #onIdentityWanted(): void {
    const provider = this.#identityProvider;
    if (this.#identityAsked || provider === null || this.#handle === null) return;
    this.#identityAsked = true;
    // OpenSSL consumes nothing while it waits; the timeout bounds what piles up meanwhile.
    this.#reads.holdForHello();
    const request = {
      hostname: this.#options.hostname ?? this.#options.servername ?? '',
      afterHandshake: this.#handle.getInfo().handshakeDone ?? false,
    };
    askIdentity(provider, request, this.#identityTimeout, (error, identity) => {
      this.#identityAsked = false;
      if (this.destroyed || this.#handle === null) return;
      try {
        if (error !== null) throw error;
        presentIdentity(this.#handle, identity!);
      } catch (failure) {
        // The identity is the app's: what it throws may be anything (a getter on it, a Proxy).
        const reason = ownedError(failure, 'ERR_CTLS_IDENTITY_FAILED', 'the identity could not be used');
        this.destroyReason = reason;
        this.#fail(reason);
        return;
      }
      this.#handle.resumeIdentity();
      this.#reads.helloAnswered();
      this.#cycle(undefined);
      this.#unblockInput();
    });
  }

  // ---- failure ---------------------------------------------------------

  /**
   * The engine denied this connection: a fatal alert tells the peer why (certificate_revoked,
   * certificate_expired, otherwise access_denied) before the transport closes, so a client can
   * tell a denial from a normal close.
   */
  [kDeny](error: Error & { decision?: Decision }): void {
    if (this.destroyed) return;
    this.destroyReason = error;
    const alert = denialAlert(this.#handle, error.decision?.reason);
    this.#io.endWith(alert);
    if (this.listenerCount('error') > 0) this.destroy(error);
    else this.destroy();
  }

  #fail(error: Error): void {
    if (this.destroyed) return;
    if (this.destroyReason === null) this.destroyReason = error;
    // A reason already given (the handshake's own verification) stays.
    if (this.authorized || this.authorizationError === null) this.#unauthorize(error);
    // Ship any alert OpenSSL queued before tearing the transport down.
    const alert = queuedAlert(this.#handle);
    this.#io.endWith(alert);
    if (!this.#secure && this.#options.isServer) {
      // Handshake failures on a server surface as the server's tlsClientError.
      this.emit('_tlsClientError', error);
      this.destroy();
      return;
    }
    // Never let a peer crash the process: an 'error' is only emitted when
    // somebody listens; otherwise the reason stays in destroyReason.
    if (this.listenerCount('error') > 0) this.destroy(error);
    else this.destroy();
  }

  /**
   * A certificate refused after the handshake (a post-handshake request, a renegotiation, a
   * resumed chain) leaves the connection on no verified peer, whatever the handshake said. The
   * error may be anything an app callback failed with: its fields are read without trusting it.
   */
  #unauthorize(error: Error): void {
    const fields = error as { code?: unknown; verifyError?: unknown; reason?: unknown };
    const code = codeOfThrown(error);
    let why: unknown;
    try {
      if (code === 'ERR_CTLS_CERT_VERIFY') why = fields.verifyError ?? fields.reason;
    } catch {
      // A reason that cannot be read: the peer is still not verified.
    }
    if (code === 'ERR_CTLS_NO_PEER_CERTIFICATE') why = 'NO_PEER_CERTIFICATE';
    else if (code !== 'ERR_CTLS_CERT_VERIFY') return;
    this.authorized = false;
    this.authorizationError = typeof why === 'string' ? why : 'UNSPECIFIED';
  }

  // ---- node:tls-shaped getters -----------------------------------------

  #nativeInfo(): ReturnType<NativeTlsConnection['getInfo']> {
    if (this.#info === null) this.#info = this.#handle?.getInfo() ?? {};
    return this.#info;
  }

  #peerChain(): PeerChain {
    return (this.#peer ??= new PeerChain(this.#handle));
  }

  /** The peer's chain as crypto.X509Certificate objects, leaf first. */
  getPeerCertificateChain(): X509Certificate[] {
    return this.#peerChain().x509;
  }

  /** See PeerChain#verified: what guards, policies (peer.chain), REST and getPeerCertificate(true) judge. */
  [kVerifiedChain](): X509Certificate[] {
    const exchange = this[kExchangeVerdict];
    const current =
      exchange !== null && exchange.trust === this.#context && exchange.generation === this.#context.trustGeneration;
    return this.#peerChain().verified(this.#handle, this.#context, this.isServer ? 'sslclient' : 'sslserver', current);
  }

  getPeerX509Certificate(): X509Certificate | undefined {
    return this.#peerChain().x509[0];
  }

  getX509Certificate(): X509Certificate | undefined {
    const der = this.#handle?.getOwnCertificate();
    return der ? new X509Certificate(der) : undefined;
  }

  /** Shaped like node's tls.TLSSocket#getPeerCertificate(detailed). */
  getPeerCertificate(detailed = false): tls.PeerCertificate | tls.DetailedPeerCertificate | Record<string, never> {
    return legacyPeerCertificate(this.#peerChain().x509, () => this[kVerifiedChain](), detailed);
  }

  getProtocol(): string | null {
    return this.#nativeInfo().protocol ?? null;
  }

  getCipher(): { name: string; standardName: string; version: string } | undefined {
    return this.#nativeInfo().cipher;
  }

  get alpnProtocol(): string | false {
    return this.#nativeInfo().alpnProtocol ?? false;
  }

  get servername(): string | false {
    return this.#nativeInfo().servername ?? (this.#options.isServer ? false : (this.#options.servername ?? false));
  }

  isSessionReused(): boolean {
    return this.#nativeInfo().sessionReused ?? false;
  }

  /** The latest resumable session (client side), to pass as `session` later. */
  getSession(): Buffer | undefined {
    return this.#session ?? this.#handle?.getSession() ?? undefined;
  }

  exportKeyingMaterial(length: number, label: string, context?: Buffer): Buffer {
    checkCount('length', required('length', length, 'a positive integer'));
    // The addon takes a 32-bit length: anything larger would wrap, not fail.
    if (length > MAX_KEYING_MATERIAL) throw invalidOption('length', `an integer up to ${MAX_KEYING_MATERIAL}`, length);
    checkString('label', required('label', label, 'a string'));
    const bytes = context === undefined ? undefined : bytesOf('context', context);
    if (this.#handle === null) throw ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket is closed');
    return this.#handle.exportKeyingMaterial(length, label, bytes);
  }

  /** Whether a CRL past its nextUpdate was tolerated (best-effort revocation) during verification. */
  get staleCrlSeen(): boolean {
    return this.#handle?.getInfo().staleCrlSeen ?? false;
  }
}

/** validate.ts reads undefined as "absent, take the default"; an argument without one must be given. */
function required<T>(name: string, value: T | undefined, expected: string): T {
  if (value === undefined) throw invalidOption(name, expected);
  return value;
}

function concatTail(chunks: Buffer[], skip: number): Buffer {
  const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  return all.subarray(skip);
}
