/**
 * TLSSocket: a Duplex of plaintext over any transport carrying ciphertext.
 *
 * Data path: transport 'data' -> TlsConnection.cycle(chunk) -> plaintext is
 * pushed only while the gate is open; ciphertext (handshake flights, alerts,
 * post-handshake messages) goes straight back to the transport. Application
 * writes are likewise parked while the gate is closed. The gate is closed
 * until the handshake is authorized and whenever something holds it (a
 * pending re-authentication, a lapsed decision): see hold()/release().
 */
import { X509Certificate } from 'node:crypto';
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import { ContinuousTlsError, ctlsError } from '../common/errors.js';
import { native, type NativeTlsConnection } from './native.js';
import { contextHandle, type SecureContext } from './context.js';
import { pemBuffer } from './pem.js';
import { borrow, canLendTo, giveBack } from './ciphertext-pool.js';
import { parsedCertificate } from './parsed-certificates.js';
import type { Decision } from '../common/types.js';

const EVENTS = native.events;

export type Transport = Duplex & Partial<Pick<Socket, 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort' | 'setTimeout' | 'setNoDelay' | 'setKeepAlive' | 'address' | 'ref' | 'unref'>>;

export interface PeerCertificateResult {
  /** The presented chain, leaf first. */
  chain: X509Certificate[];
  der: Buffer[];
  /** Whether the chain verified during the exchange (rejectUnauthorized-independent). */
  verified: boolean;
  verifyError?: string;
}

export interface Identity {
  key: string | Buffer;
  cert: string | Buffer | ReadonlyArray<string | Buffer>;
  passphrase?: string;
}

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

/** The engine's own certificate requests are decided by the engine; the socket does not report them. */
export const kEngineRequest = Symbol('continuous-tls.engineRequest');
/** Counts the certificates the peer presented (handshake, then each fresh exchange). */
export const kCertificateEpoch = Symbol('continuous-tls.certificateEpoch');
/** OpenSSL's verdict on the latest certificate, with the trust it was made under. */
export const kExchangeVerdict = Symbol('continuous-tls.exchangeVerdict');
/** Ends a connection the engine denied, telling the peer why with a TLS alert first. */
export const kDeny = Symbol('continuous-tls.deny');
/** The authorizer that tracks the socket, which `socket.decision` asks (set by the engine). */
export const kOwner = Symbol('continuous-tls.owner');

/** What the socket needs from whoever tracks it. */
export interface SocketOwner {
  decisionOf(socket: object): Decision | null;
}

/**
 * OpenSSL's verdict on the certificate the last exchange (handshake or fresh request) brought,
 * with what it was made under: usable only while `trust` is still at `generation` and the
 * connection's certificate is still the one of `epoch`.
 */
export interface ExchangeVerdict {
  ok: boolean;
  code?: string;
  trust: SecureContext;
  generation: number;
  epoch: number;
  /** The earliest notAfter of the chain OpenSSL built (store CAs included), when it verified. */
  notAfter?: number;
}

// TLS alert descriptions (RFC 8446 section 6.2).
const kAlertCertificateRevoked = 44;
const kAlertCertificateExpired = 45;
const kAlertAccessDenied = 49;

export interface CertificateRequestOptions {
  /** ms the peer has to answer before the connection is closed (default 5000). */
  timeout?: number;
  [kEngineRequest]?: boolean;
}

export interface TLSSocketOptions {
  isServer: boolean;
  secureContext: SecureContext;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  servername?: string;
  /** Client: the name checkServerIdentity verifies the server certificate against (default: servername). */
  hostname?: string;
  session?: Buffer;
  /** Client: advertise post-handshake auth (default true). */
  offerPostHandshakeAuth?: boolean;
  /** Client: the identity presented when a certificate is requested. */
  identity?: Identity;
  handshakeTimeout?: number;
  SNICallback?: (servername: string, callback: (error: Error | null, context?: SecureContext) => void) => void;
  checkServerIdentity?: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
  allowHalfOpen?: boolean;
  highWaterMark?: number;
  /**
   * Bytes of inbound plaintext the gate may hold while a certificate request
   * is out (default 16 MiB); past it the connection fails with ERR_CTLS_HELD_LIMIT.
   */
  maxHeldBytes?: number;
  authorizer?: SocketAuthorizer;
}

interface ParkedWrite {
  chunks: Buffer[];
  callback: (error?: Error | null) => void;
}

interface PendingReauth {
  promise: Promise<PeerCertificateResult>;
  resolve: (result: PeerCertificateResult) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  /** Whether anyone but the engine asked: the engine must then decide on the answer. */
  outsideEngine: boolean;
}

/** Default ceiling of held plaintext while a certificate request is out (see #deliver). */
export const DEFAULT_MAX_HELD_BYTES = 16 * 1024 * 1024;

const kHandshakeHold = 'handshake';
const kReauthHold = 'reauthentication';

export class TLSSocket extends Duplex {
  readonly encrypted = true;
  authorized = false;
  authorizationError: string | null = null;
  /** Why the socket was closed by the library (deauthorization, timeout …), if it was. */
  destroyReason: Error | null = null;
  readonly transport: Transport;
  readonly createdAt = Date.now();

  #handle: NativeTlsConnection | null;
  #options: TLSSocketOptions;
  #context: SecureContext;
  #maxHeldBytes: number;
  #holds = new Set<string>([kHandshakeHold]);
  #deadline = Infinity;
  #deadlineClock: () => number = Date.now;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #parked: ParkedWrite | null = null;
  #transportPaused = false;
  /** Ciphertext we produced on our own (KeyUpdate answers, alerts, flights) waits for the transport's 'drain'. */
  #awaitingDrain = false;
  /** The handshake waits at the ClientHello for the SNICallback. */
  #helloPending = false;
  #secure = false;
  #handshakeTimer: NodeJS.Timeout | null = null;
  #reauth: PendingReauth | null = null;
  #peerCache: { der: Buffer[]; x509: X509Certificate[] } | null = null;
  #info: ReturnType<NativeTlsConnection['getInfo']> | null = null;
  #session: Buffer | null = null;
  #closeNotifyReceived = false;
  [kCertificateEpoch] = 0;
  [kExchangeVerdict]: ExchangeVerdict | null = null;
  [kOwner]: SocketOwner | undefined = undefined;
  /** push(null) is done: the readable side ends once its buffer is read. */
  #endQueued = false;
  #finalCallback: ((error?: Error | null) => void) | null = null;

  constructor(transport: Transport, options: TLSSocketOptions) {
    super({ allowHalfOpen: options.allowHalfOpen ?? false, highWaterMark: options.highWaterMark });
    this.transport = transport;
    this.#options = options;
    this.#context = options.secureContext;
    this.#maxHeldBytes = options.maxHeldBytes ?? DEFAULT_MAX_HELD_BYTES;
    const connectionOptions: ConstructorParameters<typeof native.TlsConnection>[2] = {
      requestCert: options.requestCert ?? false,
      rejectUnauthorized: options.rejectUnauthorized ?? !options.isServer,
      offerPostHandshakeAuth: options.offerPostHandshakeAuth ?? true,
    };
    if (options.servername !== undefined) connectionOptions.servername = options.servername;
    if (options.session !== undefined) connectionOptions.session = options.session;
    this.#handle = new native.TlsConnection(contextHandle(this.#context), options.isServer, connectionOptions);
    if (options.identity !== undefined) this.setIdentity(options.identity);

    // Handshake and re-authentication flights are small and latency-bound;
    // Nagle would hold them back for a delayed ACK (~40 ms).
    transport.setNoDelay?.(true);
    transport.on('data', (chunk: Buffer) => this.#onCiphertext(chunk));
    transport.on('end', () => this.#onTransportEnd());
    transport.on('error', (error: Error) => this.#fail(error));
    transport.on('close', () => this.#onTransportClose());
    if (options.handshakeTimeout !== undefined && options.handshakeTimeout > 0) {
      this.#handshakeTimer = setTimeout(() => {
        this.#fail(ctlsError('ERR_CTLS_HANDSHAKE_TIMEOUT', `TLS handshake timed out after ${options.handshakeTimeout} ms`));
      }, options.handshakeTimeout);
      this.#handshakeTimer.unref();
    }
    // A client speaks first; a server waits for the ClientHello.
    if (!options.isServer) process.nextTick(() => this.#cycle(undefined));
  }

  get isServer(): boolean {
    return this.#options.isServer;
  }

  /** The context whose trust store verifies the peer. */
  get secureContext(): SecureContext {
    return this.#context;
  }

  // ---- data path -------------------------------------------------------

  #onCiphertext(chunk: Buffer): void {
    this.#cycle(chunk, false, this.#ownsReads());
  }

  /**
   * Whether a chunk the transport emits is ours alone to overwrite. libuv
   * sockets read into a fresh buffer each time; a JS Duplex may hand over
   * memory its writer still uses; another 'data' listener would see the
   * chunk change under it.
   */
  #ownsReads(): boolean {
    return canLendTo(this.transport) && this.transport.listenerCount('data') === 1;
  }

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
    const [plaintext, ciphertext, events, error, placed] = result;
    if (ciphertext !== null && !this.#sendCiphertext(ciphertext)) this.#awaitDrain();
    if (events !== 0) this.#onEvents(events, error);
    if (placed > 0 && !this.destroyed) this.#deliver(chunk!.subarray(0, placed));
    if (plaintext !== null && !this.destroyed) this.#deliver(plaintext);
    if (events & EVENTS.closeNotify) this.#onCloseNotify();
    if (this.#parked !== null && !this.#gateClosed()) this.#flushParked();
  }

  #sendCiphertext(ciphertext: Buffer, callback?: (error?: Error | null) => void): boolean {
    if (this.transport.destroyed || this.transport.writableEnded) {
      callback?.();
      return true;
    }
    return this.transport.write(ciphertext, callback);
  }

  /**
   * Reading makes OpenSSL answer on its own (a KeyUpdate with update_requested
   * gets one back, RFC 8446 section 4.6.3; a renegotiation its flight). A peer
   * that sends such messages and never reads would grow the transport's write
   * queue without end: stop reading until it drains. Application writes are
   * not a reason, they have the Writable's own backpressure, and pausing on
   * them would deadlock two peers that both write before they read.
   */
  #awaitDrain(): void {
    if (this.#awaitingDrain || this.transport.destroyed) return;
    this.#awaitingDrain = true;
    this.#pauseTransport();
    this.transport.once('drain', () => {
      this.#awaitingDrain = false;
      this.#unblockInput();
    });
  }

  #onEvents(events: number, error: (Error & Record<string, unknown>) | null): void {
    if (events & EVENTS.fatal) {
      this.#fail(tlsError(error));
      return;
    }
    if (events & EVENTS.clientHello) this.#onClientHello();
    if (events & EVENTS.newSession) {
      this.#session = this.#handle?.getSession() ?? null;
      if (this.#session !== null) this.emit('session', this.#session);
    }
    if (events & EVENTS.handshakeDone) this.#onHandshakeDone();
    if (events & EVENTS.reauthDone) this.#onReauthDone();
  }

  #deliver(plaintext: Buffer): void {
    if (this.#gateClosed() || this.#held.length > 0) {
      this.#held.push(plaintext);
      this.#heldBytes += plaintext.length;
      // Held data is bounded by the readable highWaterMark: beyond it the
      // transport stops reading, so the peer feels backpressure, not loss.
      // Not while a certificate request is out: the answer sits behind the
      // data already in flight, and only reading on reaches it. Pausing there
      // would only turn the request into a certain timeout, so a peer that
      // keeps sending instead of answering meets a ceiling and is cut at once.
      if (this.#heldBytes > this.#maxHeldBytes) {
        this.#fail(ctlsError('ERR_CTLS_HELD_LIMIT', `the peer sent more than ${this.#maxHeldBytes} bytes while its authorization was pending`));
        return;
      }
      if (this.#heldBytes >= this.readableHighWaterMark && this.#reauth === null) this.#pauseTransport();
      return;
    }
    if (!this.push(plaintext)) this.#pauseTransport();
  }

  #pauseTransport(): void {
    if (this.#transportPaused) return;
    this.#transportPaused = true;
    this.transport.pause();
  }

  #resumeTransport(): void {
    if (!this.#transportPaused || this.#awaitingDrain || this.#helloPending) return;
    this.#transportPaused = false;
    this.transport.resume();
  }

  /** A reason of our own to stop reading is gone: read again unless the reader's backpressure still holds. */
  #unblockInput(): void {
    if (this.destroyed) return;
    const wantsInput = this.#gateClosed()
      ? this.#reauth !== null || this.#heldBytes < this.readableHighWaterMark
      : this.#held.length === 0 && this.readableLength < this.readableHighWaterMark;
    if (wantsInput) this.#resumeTransport();
  }

  override _read(): void {
    if (this.#gateClosed()) return;
    this.#flushHeld();
    if (this.#held.length === 0) this.#resumeTransport();
  }

  #flushHeld(): void {
    while (this.#held.length > 0 && !this.#gateClosed()) {
      const chunk = this.#held.shift()!;
      this.#heldBytes -= chunk.length;
      if (!this.push(chunk)) return;
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writeChunks([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.#writeChunks(
      chunks.map((entry) => entry.chunk),
      callback,
    );
  }

  #writeChunks(chunks: Buffer[], callback: (error?: Error | null) => void): void {
    if (this.#gateClosed()) {
      // Writable calls _write one batch at a time, so one parked slot is
      // enough; further writes queue in the stream with backpressure.
      this.#parked = { chunks, callback };
      return;
    }
    const handle = this.#handle;
    if (handle === null) {
      callback(ctlsError('ERR_CTLS_SOCKET_CLOSED', 'write after the TLS connection was destroyed'));
      return;
    }
    const out = canLendTo(this.transport) ? borrow() : undefined;
    let result;
    try {
      result = handle.write(chunks.length === 1 ? chunks[0]! : chunks, out);
    } catch (error) {
      if (out !== undefined) giveBack(out);
      callback(error as Error);
      return;
    }
    const [, fresh, events, error, consumed, placed] = result;
    const sent = placed > 0 ? this.#sendLent(out!, placed) : fresh !== null ? this.#sendCiphertext(fresh) : null;
    if (placed === 0 && out !== undefined) giveBack(out);
    if (events & EVENTS.fatal) {
      const failure = tlsError(error);
      callback(failure);
      this.#fail(failure);
      return;
    }
    const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    if (consumed < total) {
      // A renegotiation blocks writing until the peer's flight arrives.
      this.#parked = { chunks: [concatTail(chunks, consumed)], callback };
      return;
    }
    if (sent !== false) callback();
    else this.transport.once('drain', () => callback());
  }

  /** Sends the first `length` bytes of a lent buffer; it goes back to the pool once written. */
  #sendLent(out: Buffer, length: number): boolean {
    if (this.transport.destroyed || this.transport.writableEnded) {
      giveBack(out);
      return true;
    }
    let lent: Buffer | null = out;
    const flowing = this.transport.write(out.subarray(0, length), (writeError?: Error | null) => {
      // After a failed write the transport may still hold the bytes: let it keep them.
      if (lent !== null && !writeError) giveBack(lent);
      lent = null;
    });
    // Nothing queued means libuv wrote every byte to the kernel at once. The
    // callback comes only on the next tick, and a sender that keeps writing
    // would otherwise borrow a new buffer for every write until then.
    if (lent !== null && this.transport.writableLength === 0) {
      giveBack(lent);
      lent = null;
    }
    return flowing;
  }

  #flushParked(): void {
    const parked = this.#parked;
    if (parked === null) return;
    this.#parked = null;
    this.#writeChunks(parked.chunks, parked.callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.#secure || this.#handle === null) {
      this.transport.end();
      callback();
      return;
    }
    if (this.#parked !== null) {
      // Let parked data go first; _final runs again once it is flushed.
      this.#finalCallback = callback;
      return;
    }
    const closeNotify = this.#handle.shutdown();
    if (closeNotify !== null) this.#sendCiphertext(closeNotify);
    this.transport.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    if (this.#reauth !== null) {
      const reauth = this.#reauth;
      this.#reauth = null;
      clearTimeout(reauth.timer);
      reauth.reject(error ?? this.destroyReason ?? ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket closed during re-authentication'));
    }
    const parked = this.#parked;
    this.#parked = null;
    // Data held by the gate is discarded: it was never authorized.
    this.#held = [];
    this.#heldBytes = 0;
    this.#handle?.destroy();
    this.#handle = null;
    if (!this.transport.destroyed) this.transport.destroy();
    parked?.callback(ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket was destroyed before the data could be sent'));
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
    if (this.#endQueued && !this.readableEnded) {
      this.once('end', () => this.destroy());
      return;
    }
    this.destroy();
  }

  #onCloseNotify(): void {
    this.#closeNotifyReceived = true;
    this.#endReadable();
  }

  #endReadable(): void {
    if (this.#held.length > 0 && this.#gateClosed()) {
      // Keep them until the gate decides; if it opens, end follows the data.
      this.once('gateopen', () => this.#endReadable());
      return;
    }
    this.#flushHeld();
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

  #gateClosed(): boolean {
    // The deadline closes the gate the very millisecond a decision lapses,
    // not when the re-check timer gets to run.
    return this.#holds.size > 0 || (this.#deadline !== Infinity && this.#deadlineClock() >= this.#deadline);
  }

  /**
   * The current authorization lapses at `at` (epoch ms on `now`'s clock):
   * from then on the gate holds as if hold() had been called, until a new
   * deadline is set (by the next allowing decision).
   */
  setDeadline(at: number, now: () => number = Date.now): void {
    this.#deadline = at;
    this.#deadlineClock = now;
  }

  /** Stop delivering inbound plaintext and sending outbound writes until released. */
  hold(reason: string): void {
    this.#holds.add(reason);
  }

  /** Remove one hold; when none remain, held data flows in order. */
  release(reason: string): void {
    if (!this.#holds.delete(reason) || this.#gateClosed() || this.destroyed) return;
    this.emit('gateopen');
    this.#flushHeld();
    if (this.#held.length === 0 && this.readableLength < this.readableHighWaterMark) this.#resumeTransport();
    this.#flushParked();
    if (this.#finalCallback !== null && this.#parked === null) {
      const callback = this.#finalCallback;
      this.#finalCallback = null;
      this._final(callback);
    }
  }

  /** Whether the gate currently holds data (pending or lapsed authorization). */
  get gateHeld(): boolean {
    return this.#gateClosed();
  }

  // ---- handshake -------------------------------------------------------

  #onClientHello(): void {
    const servername = this.#handle?.getInfo().servername ?? '';
    const callback = this.#options.SNICallback;
    // OpenSSL consumes nothing until the callback answers: every byte read
    // now would pile up in the read BIO. Stop reading; handshakeTimeout bounds the wait.
    this.#helloPending = true;
    this.#pauseTransport();
    const resume = (error: Error | null, context?: SecureContext): void => {
      if (this.destroyed || this.#handle === null) return;
      if (error) {
        this.#fail(error);
        return;
      }
      this.#handle.setContext(context === undefined ? undefined : contextHandle(context));
      // The context chosen for the name verifies the client too, now and at every re-check.
      if (context !== undefined) this.#context = context;
      this.#helloPending = false;
      this.#cycle(undefined);
      this.#unblockInput();
    };
    if (callback === undefined || servername === '') {
      process.nextTick(resume, null);
      return;
    }
    try {
      callback(servername, (error, context) => process.nextTick(resume, error ?? null, context));
    } catch (error) {
      resume(error as Error);
    }
  }

  #onHandshakeDone(): void {
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    this.#info = null;
    this.#peerCache = null;
    const verifyError = this.#handle?.getVerifyError() ?? null;
    const chain = this.#peerDer();
    if (chain.length === 0) {
      this.authorized = false;
      this.authorizationError = this.#options.isServer ? 'NO_PEER_CERTIFICATE' : 'UNABLE_TO_GET_ISSUER_CERT';
    } else if (verifyError !== null) {
      this.authorized = false;
      this.authorizationError = verifyError.code;
    } else {
      this.authorized = true;
      this.authorizationError = null;
      this.#context.rememberIntermediates(chain);
    }
    if (this.#handle?.getInfo().sessionReused && chain.length > 0 && verifyError === null) {
      // OpenSSL skips verification on resumption; we do not (docs/security.md).
      const outcome = this.#context.verifyChain(chain, this.#options.isServer ? 'sslclient' : 'sslserver');
      this.authorized = outcome.ok;
      this.authorizationError = outcome.ok ? null : (outcome.code ?? 'UNSPECIFIED');
    }
    if (!this.#options.isServer && !this.#checkServerIdentity()) return;
    this.#recordExchange(chain.length > 0);
    if (!this.#options.isServer && this.#options.rejectUnauthorized !== false && !this.authorized) {
      this.#fail(ctlsError('ERR_CTLS_CERT_VERIFY', `server certificate rejected: ${this.authorizationError}`, { reason: this.authorizationError ?? undefined }));
      return;
    }
    if (this.#options.isServer && this.#options.requestCert && this.#options.rejectUnauthorized && !this.authorized) {
      this.#fail(ctlsError('ERR_CTLS_CERT_VERIFY', `client certificate rejected: ${this.authorizationError}`, { reason: this.authorizationError ?? undefined }));
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

  /** Stamps the verdict on the certificate just presented with the trust it was made under. */
  #recordExchange(presented: boolean): void {
    this[kCertificateEpoch]++;
    // A verdict a trust change overtook (the peer split its flight around a setCrl) names no
    // generation, so the engine verifies the chain again under the trust in force.
    const current = this.#handle?.verifiedUnderCurrentTrust() ?? false;
    const generation = current ? this.#context.trustGeneration : -1;
    const verdict: ExchangeVerdict = { ok: presented && this.authorized, trust: this.#context, generation, epoch: this[kCertificateEpoch] };
    if (!verdict.ok) verdict.code = this.authorizationError ?? 'UNSPECIFIED';
    else {
      const notAfter = this.#handle?.verifiedNotAfter() ?? null;
      if (notAfter !== null) verdict.notAfter = notAfter;
    }
    this[kExchangeVerdict] = verdict;
  }

  #announceSecure(): void {
    this.release(kHandshakeHold);
    this.emit(this.#options.isServer ? 'secure' : 'secureConnect');
  }

  #checkServerIdentity(): boolean {
    // Like node: the SNI name, else the host connected to, IP addresses included.
    const host = this.#options.hostname ?? this.#options.servername;
    if (host === undefined || !this.authorized) return true;
    const check = this.#options.checkServerIdentity ?? tls.checkServerIdentity;
    const certificate = this.getPeerCertificate();
    const error = check(host, certificate as tls.PeerCertificate);
    if (error === undefined) return true;
    this.authorized = false;
    this.authorizationError = (error as NodeJS.ErrnoException).code ?? 'ERR_TLS_CERT_ALTNAME_INVALID';
    if (this.#options.rejectUnauthorized === false) return true;
    this.#fail(ctlsError('ERR_CTLS_HOSTNAME_MISMATCH', error.message, { cause: error }));
    return false;
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
  requestCertificate(options: CertificateRequestOptions = {}): Promise<PeerCertificateResult> {
    const outsideEngine = options[kEngineRequest] !== true;
    if (this.#reauth !== null) {
      if (outsideEngine) this.#reauth.outsideEngine = true;
      return this.#reauth.promise;
    }
    const handle = this.#handle;
    if (handle === null || this.destroyed) {
      return Promise.reject(ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket is closed'));
    }
    let request: Buffer | null;
    try {
      request = handle.requestCertificate();
    } catch (error) {
      return Promise.reject(asCoded(error));
    }
    this.hold(kReauthHold);
    let resolve!: (result: PeerCertificateResult) => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<PeerCertificateResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const timeout = options.timeout ?? 5000;
    const timer = setTimeout(() => {
      const error = ctlsError('ERR_CTLS_REAUTH_TIMEOUT', `the peer did not answer the certificate request within ${timeout} ms`);
      this.destroyReason = error;
      this.#fail(error);
    }, timeout);
    timer.unref();
    this.#reauth = { promise, resolve, reject, timer, outsideEngine };
    if (request !== null) this.#sendCiphertext(request);
    // Backpressure from the app must not keep us from reading the answer.
    this.#resumeTransport();
    return promise;
  }

  #onReauthDone(): void {
    const reauth = this.#reauth;
    this.#info = null;
    this.#peerCache = null;
    if (reauth === null) return;
    this.#reauth = null;
    clearTimeout(reauth.timer);
    const der = this.#peerDer();
    const verifyError = this.#handle?.getVerifyError() ?? null;
    const result: PeerCertificateResult = {
      chain: this.#peerX509(),
      der,
      verified: der.length > 0 && verifyError === null,
    };
    if (verifyError !== null) result.verifyError = verifyError.code;
    this.authorized = result.verified;
    this.authorizationError = result.verified ? null : (result.verifyError ?? 'NO_PEER_CERTIFICATE');
    if (result.verified) this.#context.rememberIntermediates(der);
    this.#recordExchange(der.length > 0);
    // Whoever asked, a new identity passes nothing until the policy has decided on it: the engine
    // holds the data from here (its own requests hold already).
    if (reauth.outsideEngine) this.#options.authorizer?.onCertificate(this);
    this.emit('certificate', result);
    // The authorizer (if any) holds the gate on its own until its decision.
    this.release(kReauthHold);
    if (this.#gateClosed() && this.#heldBytes >= this.readableHighWaterMark) this.#pauseTransport();
    reauth.resolve(result);
  }

  /** Is a certificate request outstanding? */
  get reauthenticating(): boolean {
    return this.#reauth !== null;
  }

  /** Client side: the identity presented at the next certificate request. */
  setIdentity(identity: Identity): void {
    if (identity === null || typeof identity !== 'object') throw ctlsError('ERR_CTLS_INVALID_OPTION', 'setIdentity needs { key, cert }');
    const key = pemBuffer('key', identity.key);
    const cert = pemBuffer('cert', identity.cert);
    if (key === undefined || cert === undefined) throw ctlsError('ERR_CTLS_INVALID_OPTION', 'setIdentity needs both key and cert');
    if (this.#handle === null) throw ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket is closed');
    try {
      this.#handle.setIdentity(key, cert, identity.passphrase);
    } catch (error) {
      // The addon says which input it could not parse; a mismatch is the key's.
      const option = (error as { option?: unknown }).option;
      throw asCoded(error, 'ERR_CTLS_BAD_PEM', typeof option === 'string' ? option : 'key');
    }
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
    const reason = error.decision?.reason;
    const description = reason === 'CERT_REVOKED' ? kAlertCertificateRevoked : reason === 'CERT_HAS_EXPIRED' ? kAlertCertificateExpired : kAlertAccessDenied;
    let alert: Buffer | null = null;
    try {
      alert = this.#handle?.sendFatalAlert(description) ?? null;
    } catch {
      alert = null;
    }
    if (alert !== null && !this.transport.destroyed && !this.transport.writableEnded) this.transport.end(alert);
    if (this.listenerCount('error') > 0) this.destroy(error);
    else this.destroy();
  }

  #fail(error: Error): void {
    if (this.destroyed) return;
    if (this.destroyReason === null) this.destroyReason = error;
    // Ship any alert OpenSSL queued before tearing the transport down.
    const alert = this.#handle === null ? null : safeShutdownFlush(this.#handle);
    if (alert !== null && !this.transport.destroyed) this.transport.end(alert);
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

  // ---- node:tls-shaped getters -----------------------------------------

  #nativeInfo(): ReturnType<NativeTlsConnection['getInfo']> {
    if (this.#info === null) this.#info = this.#handle?.getInfo() ?? {};
    return this.#info;
  }

  #peerDer(): Buffer[] {
    if (this.#peerCache === null) {
      const der = this.#handle?.getPeerChain() ?? [];
      this.#peerCache = { der, x509: [] };
    }
    return this.#peerCache.der;
  }

  #peerX509(): X509Certificate[] {
    const der = this.#peerDer();
    const cache = this.#peerCache!;
    if (cache.x509.length !== der.length) cache.x509 = der.map(parsedCertificate);
    return cache.x509;
  }

  /** The peer's chain as crypto.X509Certificate objects, leaf first. */
  getPeerCertificateChain(): X509Certificate[] {
    return this.#peerX509();
  }

  getPeerX509Certificate(): X509Certificate | undefined {
    return this.#peerX509()[0];
  }

  getX509Certificate(): X509Certificate | undefined {
    const der = this.#handle?.getOwnCertificate();
    return der ? new X509Certificate(der) : undefined;
  }

  /** Shaped like node's tls.TLSSocket#getPeerCertificate(detailed). */
  getPeerCertificate(detailed = false): tls.PeerCertificate | tls.DetailedPeerCertificate | Record<string, never> {
    const presented = this.#peerX509();
    if (presented.length === 0) return {};
    // Like node, the detailed chain runs up to the trust anchor: take the
    // chain verification built when it extends the presented one.
    let chain = presented;
    if (detailed) {
      const verified = this.#handle?.getVerifiedChain() ?? [];
      if (verified.length > presented.length && verified[0]!.equals(presented[0]!.raw)) {
        chain = verified.map((der) => new X509Certificate(der));
      }
    }
    const objects = chain.map((certificate) => certificate.toLegacyObject() as tls.DetailedPeerCertificate);
    if (!detailed) return objects[0]!;
    for (let i = 0; i < objects.length; i++) {
      const next = objects[i + 1];
      const current = objects[i]!;
      if (next !== undefined) current.issuerCertificate = next;
      else if (chain[i]!.checkIssued(chain[i]!)) current.issuerCertificate = current;
    }
    return objects[0]!;
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
    if (!Number.isInteger(length) || length <= 0) throw ctlsError('ERR_CTLS_INVALID_OPTION', 'length must be a positive integer');
    if (typeof label !== 'string') throw ctlsError('ERR_CTLS_INVALID_OPTION', 'label must be a string');
    if (this.#handle === null) throw ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket is closed');
    return this.#handle.exportKeyingMaterial(length, label, context);
  }

  /** Whether a CRL past its nextUpdate was tolerated (best-effort revocation) during verification. */
  get staleCrlSeen(): boolean {
    return this.#handle?.getInfo().staleCrlSeen ?? false;
  }

  get remoteAddress(): string | undefined {
    return this.transport.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.transport.remotePort;
  }

  get remoteFamily(): string | undefined {
    return (this.transport as Partial<Socket>).remoteFamily;
  }

  get localAddress(): string | undefined {
    return this.transport.localAddress;
  }

  get localPort(): number | undefined {
    return this.transport.localPort;
  }

  address(): ReturnType<Socket['address']> | Record<string, never> {
    return this.transport.address?.() ?? {};
  }

  setTimeout(ms: number, callback?: () => void): this {
    if (callback !== undefined) this.once('timeout', callback);
    if (this.transport.setTimeout === undefined) return this;
    if (!this.#forwardingTimeout) {
      this.#forwardingTimeout = true;
      this.transport.on('timeout', () => this.emit('timeout'));
    }
    this.transport.setTimeout(ms);
    return this;
  }

  #forwardingTimeout = false;

  setNoDelay(noDelay?: boolean): this {
    this.transport.setNoDelay?.(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.transport.setKeepAlive?.(enable, initialDelay);
    return this;
  }

  ref(): this {
    this.transport.ref?.();
    return this;
  }

  unref(): this {
    this.transport.unref?.();
    return this;
  }

  /** node:net compatibility: a TLSSocket is connected once it exists. */
  get connecting(): boolean {
    return false;
  }
}

function concatTail(chunks: Buffer[], skip: number): Buffer {
  const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  return all.subarray(skip);
}

function safeShutdownFlush(handle: NativeTlsConnection): Buffer | null {
  try {
    // A cycle with no input drains any queued alert without new work.
    const [, ciphertext] = handle.cycle(undefined);
    return ciphertext;
  } catch {
    return null;
  }
}

/** Turns the addon's fatal-error object into a coded library error. */
export function tlsError(error: (Error & Record<string, unknown>) | null): ContinuousTlsError {
  if (error === null) return ctlsError('ERR_CTLS_TLS', 'TLS connection failed');
  const code = typeof error.code === 'string' ? error.code : 'ERR_CTLS_TLS';
  const fields: { reason?: string; library?: string; opensslCode?: number } = {};
  if (typeof error.reason === 'string') fields.reason = error.reason;
  if (typeof error.library === 'string') fields.library = error.library;
  if (typeof error.opensslCode === 'number') fields.opensslCode = error.opensslCode;
  let finalCode = code;
  let message = error.message;
  if (error.peerChanged === true) {
    finalCode = 'ERR_CTLS_PEER_CERT_CHANGED';
    message = 'the server presented another certificate in a renegotiation than at the handshake';
  } else if (typeof error.verifyError === 'string') {
    finalCode = 'ERR_CTLS_CERT_VERIFY';
    message = `peer certificate failed verification: ${error.verifyError} (${String(error.verifyMessage)})`;
  } else if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') {
    finalCode = 'ERR_CTLS_NO_PEER_CERTIFICATE';
    message = 'the peer did not return a certificate';
  }
  const coded = new ContinuousTlsError(finalCode, message, fields);
  if (typeof error.verifyError === 'string') (coded as ContinuousTlsError & { verifyError?: string }).verifyError = error.verifyError;
  return coded;
}

function asCoded(error: unknown, fallback = 'ERR_CTLS_TLS', option?: string): Error {
  if (error instanceof ContinuousTlsError) return error;
  const err = error as Error & Record<string, unknown>;
  const code = typeof err.code === 'string' ? err.code : fallback;
  const fields: { reason?: string; library?: string; opensslCode?: number; cause: unknown } = { cause: err };
  if (typeof err.reason === 'string') fields.reason = err.reason;
  if (typeof err.library === 'string') fields.library = err.library;
  if (typeof err.opensslCode === 'number') fields.opensslCode = err.opensslCode;
  const where = option === undefined ? '' : ` in option "${option}"`;
  return new ContinuousTlsError(code, `${err.message}${where}`, fields);
}
