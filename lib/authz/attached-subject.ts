/**
 * The attached tier's view of a connection: an unmodified node:tls socket.
 */
import type { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import { ctlsError } from '../common/errors.js';
import { isPeerLeaf, presentedChain } from '../tls/node-peer.js';
import type { SecureContext } from '../tls/context.js';
import type { AuthorizationSubject } from './subject.js';
import type { ConnectionInfo } from '../common/types.js';
import { ReadGate } from './read-gate.js';
import { WriteGate } from './write-gate.js';
import { holdStreamSends } from './held-stream-sends.js';
import type { Duplex } from 'node:stream';
import { tlsHandle, type TlsHandle } from './tls-handle.js';
import type { PresentedChains } from './presented-chains.js';
import { timerDelay } from '../common/timers.js';

/** What an attachment gives each of its connections. */
export interface AttachedTrust {
  trust: SecureContext;
  /** The configured untrusted intermediates, read at each decision. */
  intermediates?: () => readonly X509Certificate[];
  chains?: PresentedChains;
}

const HOLD_RENEGOTIATION = 'renegotiation';

/**
 * Requests and streams that may wait for a held connection to open. Each is a server event node
 * raised from what the peer sent; an HTTP/2 peer may open streams without end while its connection
 * is held (or denied and kept open), so past this many the connection is closed.
 */
const MAX_WAITING_EVENTS = 1024;

/** An open HTTP/2 stream of this connection, with its gates once the connection was first held. */
interface TrackedStream {
  read: ReadGate;
  write: WriteGate;
}

type PushCallback = (error: Error | null, push: Duplex | undefined, headers: unknown) => void;
type PushStream = (this: Duplex, headers: unknown, options: unknown, callback?: unknown) => unknown;
const kPushTracking = Symbol('continuous-tls.pushTracking');
type PushTracked = Duplex & {
  [kPushTracking]?: { subjects: AttachedSubject[]; original: PushStream };
  pushStream: PushStream;
};

function rethrow(error: unknown): never {
  throw error;
}

/** A tracked HTTP/2 stream's pushStream(): node's own, with the push tracked before the app has it. */
function trackedPushStream(this: Duplex, headers: unknown, options: unknown, callback?: unknown): unknown {
  const record = (this as PushTracked | undefined)?.[kPushTracking];
  // Called on something else than the stream it was taken from, as node's own would refuse.
  if (record === undefined) throw new TypeError('pushStream() called on an object that is not its HTTP/2 stream');
  const { subjects, original } = record;
  if (typeof options === 'function') {
    callback = options;
    options = undefined;
  }
  // No callback: node throws for it, at once.
  if (typeof callback !== 'function') return original.call(this, headers, options, callback);
  const answer = callback as PushCallback;
  const tracked: PushCallback = (error, push, pushHeaders) => {
    if (push !== undefined && push !== null) for (const subject of subjects) subject.trackStream(push);
    answer(error, push, pushHeaders);
  };
  return original.call(this, headers, options, tracked);
}

/**
 * node:tls sockets expose no post-handshake auth, so the attached tier revalidates the chain a
 * connection already presented, and holds its data (ReadGate) while a decision is pending.
 */
export class AttachedSubject implements AuthorizationSubject {
  readonly kind = 'attached' as const;
  readonly socket: tls.TLSSocket;
  readonly isServer: boolean;
  readonly createdAt = Date.now();
  #holds = new Set<string>();
  #whenOpen: Array<() => void> = [];
  #afterRelease: Array<() => void> = [];
  /** node's TLS handle, or null where node changed its internals; the gate is put on it at the first hold. */
  readonly #handle: TlsHandle | null;
  #gate: ReadGate | null = null;
  #writeGate: WriteGate | null = null;
  /** The open HTTP/2 streams handed to the app: their session reads and writes past the socket. */
  #streams = new Map<Duplex, TrackedStream | null>();
  #presentedIntermediates: X509Certificate[] = [];
  #lastChain: X509Certificate[] | null = null;
  #configuredIntermediates: () => readonly X509Certificate[];
  #chains: PresentedChains | null;
  #completion: { leaf: X509Certificate; pool: readonly X509Certificate[]; chain: readonly X509Certificate[] } | null =
    null;
  /** A renegotiation we started (requestFresh) is running: its handshake is expected. */
  #ownRenegotiation = false;
  #refused = false;

  /** The attachment's trust store: what verifies this peer. */
  readonly trust: SecureContext;
  #epoch = 1;

  /**
   * `intermediates` gives the attachment's configured untrusted intermediates, read at each
   * decision so a rotation applies at once; `chains` the attachment's memory of verified chains,
   * which completes a resumed session's lone leaf.
   */
  constructor(socket: tls.TLSSocket, isServer: boolean, attachment: AttachedTrust) {
    this.socket = socket;
    this.isServer = isServer;
    this.trust = attachment.trust;
    this.#configuredIntermediates = attachment.intermediates ?? (() => []);
    this.#chains = attachment.chains ?? null;
    const handle = tlsHandle(socket);
    this.#handle = handle;
    socket.once('close', () => this.#gate?.drop());
    if (isServer && socket.getProtocol() !== 'TLSv1.3' && !this.#guardRenegotiation(handle)) {
      // Without the hook, a client could swap its certificate unseen: nothing passes, and the
      // connection is closed once the caller has finished admitting it.
      this.#refuse('node:tls changed: the attached tier cannot watch this TLS 1.2 connection for renegotiation');
    }
  }

  /** The connection is being closed for a renegotiation: it must not be handed to the app. */
  get refused(): boolean {
    return this.#refused;
  }

  #refuse(message: string): void {
    this.#refused = true;
    this.hold(HOLD_RENEGOTIATION);
    // Possibly on OpenSSL's stack (node runs these hooks from its info callback): close later.
    setImmediate(() => {
      if (!this.socket.destroyed) this.destroy(ctlsError('ERR_CTLS_RENEGOTIATION_REFUSED', message));
    });
  }

  /**
   * A TLS 1.2 client may renegotiate at any time and present another certificate (RFC 5746): node
   * completes it and reports the new peer with no decision. As the owned tier does (OpenSSL 3
   * refuses client-initiated renegotiation by default; node turns it back on), the attached tier
   * refuses it: at the handshake's start, data is held, and the connection is then closed. Our own
   * renegotiation (requestFresh) is expected and re-decided by the engine.
   */
  #guardRenegotiation(handle: TlsHandle | null): boolean {
    const onStart = handle?.onhandshakestart;
    if (handle === null || typeof onStart !== 'function') return false;
    handle.onhandshakestart = (now: number) => {
      // node's own bookkeeping first: its renegotiation-rate limit (tls.CLIENT_RENEG_LIMIT).
      const result = onStart.call(handle, now);
      if (!this.#ownRenegotiation && !this.socket.destroyed && !this.#refused) {
        this.#refuse('the client started a TLS renegotiation; attached connections refuse them');
      }
      return result;
    };
    return true;
  }

  /**
   * Moves on when our own renegotiation brings a certificate: the only way one can change here,
   * since a client-initiated renegotiation closes the connection.
   */
  get certificateEpoch(): number {
    return this.#epoch;
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  peerChain(): X509Certificate[] {
    // Rebuilding the chain means node formatting every certificate into an object and parsing it
    // again, at each revalidation of each connection. While the leaf is unchanged (no
    // renegotiation brought another certificate) the chain built last time is still the presented one.
    let presented = this.#lastChain;
    if (presented === null || !isPeerLeaf(this.socket, presented[0]!)) {
      presented = this.#buildPeerChain();
      this.#lastChain = presented.length > 0 ? presented : null;
    }
    return presented.length === 1 ? this.#completeLoneLeaf(presented[0]!) : [...presented];
  }

  #buildPeerChain(): X509Certificate[] {
    const chain = presentedChain(this.socket);
    // After a TLS 1.2 renegotiation node reports the leaf alone (the
    // intermediates it received are not linked any more): reuse the ones
    // presented at the handshake when they issued the current leaf.
    const leaf = chain[0];
    const known = this.#presentedIntermediates[0];
    if (chain.length > 1) this.#presentedIntermediates = chain.slice(1);
    else if (leaf !== undefined && known !== undefined && leaf.checkIssued(known))
      chain.push(...this.#presentedIntermediates);
    return chain;
  }

  /**
   * Node 24.x and 26.8+ drop the intermediates a client presented from a server socket before any
   * listener runs (node's own authorization check consumes them, nodejs/node#65579), so the leaf
   * may arrive alone. The attachment's configured intermediates complete it, issuer by issuer;
   * they are untrusted, so OpenSSL still checks every signature up to a CA of the attachment.
   */
  #completeLoneLeaf(leaf: X509Certificate): X509Certificate[] {
    const resumed = this.#resumedChain(leaf);
    if (resumed !== null) return resumed;
    const pool = this.#configuredIntermediates();
    if (pool.length === 0) return [leaf];
    // Every revalidation asks again; the answer only changes with the leaf or the pool (a
    // rotation replaces the array), and a CRL swap re-decides every connection at once.
    const memo = this.#completion;
    if (memo !== null && memo.leaf === leaf && memo.pool === pool) return [...memo.chain];
    const chain = [leaf];
    let current = leaf;
    while (chain.length <= pool.length && !current.checkIssued(current)) {
      const issuer = pool.find((candidate) => !chain.includes(candidate) && current.checkIssued(candidate));
      // A self-issued issuer is a root: trust comes from the CAs, never from this pool.
      if (issuer === undefined || issuer.checkIssued(issuer)) break;
      chain.push(issuer);
      current = issuer;
    }
    this.#completion = { leaf, pool, chain };
    return [...chain];
  }

  /**
   * A resumed session shows its leaf alone; it is revalidated with the intermediates that leaf was
   * presented with when a full handshake verified it. They stay untrusted: OpenSSL checks every
   * signature up to a CA of today's store, against today's CRLs and clock.
   */
  #resumedChain(leaf: X509Certificate): X509Certificate[] | null {
    if (this.#chains === null || !this.socket.isSessionReused()) return null;
    const intermediates = this.#chains.recall(leaf);
    if (intermediates === undefined || intermediates.length === 0) return null;
    return [leaf, ...intermediates];
  }

  /**
   * The engine allowed this connection: its presented chain verified. Remember the intermediates
   * that came with its leaf, so a later resumption of this session can be revalidated.
   */
  rememberVerifiedChain(): void {
    const chain = this.#lastChain;
    if (this.#chains === null || chain === null || chain.length < 2 || this.socket.isSessionReused()) return;
    this.#chains.remember(chain[0]!, chain.slice(1));
  }

  exchangeVerdict(): null {
    // node:tls verified against its own CA option; the attachment's trust store decides.
    return null;
  }

  /**
   * The connection's ReadGate, put on at the first hold: a connection decided at once and never
   * held again keeps node's own read path untouched. Null without a handle to gate.
   */
  #openedGate(): ReadGate | null {
    if (this.#gate === null && this.#handle !== null) this.#gate = new ReadGate(this.socket, this.#handle);
    return this.#gate;
  }

  hold(reason: string): void {
    const first = this.#holds.size === 0;
    this.#holds.add(reason);
    if (!first) return;
    const gate = this.#openedGate();
    (this.#writeGate ??= new WriteGate(this.socket, { passEmpty: true })).close();
    for (const stream of this.#streams.keys()) {
      const gates = this.#streamGates(stream);
      gates.read.close();
      gates.write.close();
    }
    if (gate !== null) gate.close();
    else if (!this.socket.destroyed) {
      // No handle to stop (node changed its internals): nothing can be held, so nothing passes.
      this.destroy(
        ctlsError(
          'ERR_CTLS_HOLD_UNSUPPORTED',
          "node:tls changed: the attached tier cannot hold this connection's data",
        ),
      );
    }
  }

  release(reason: string): void {
    if (!this.#holds.delete(reason) || this.#holds.size > 0) return;
    if (this.socket.destroyed) return;
    this.#gate?.open();
    this.#writeGate?.open();
    for (const gates of this.#streams.values()) {
      gates?.read.open();
      gates?.write.open();
    }
    const waiting = this.#whenOpen;
    this.#whenOpen = [];
    for (const deliver of waiting) {
      if (this.#holds.size > 0 || this.socket.destroyed) {
        // Held again (or cut) by what the last delivery did: the rest waits for the next release.
        if (!this.socket.destroyed) this.#whenOpen.push(deliver);
        continue;
      }
      try {
        deliver();
      } catch (error) {
        // A listener that throws surfaces as from node's own emit, on its own: it must not drop
        // the events behind it, nor unwind into the decision that released them.
        process.nextTick(rethrow, error);
      }
    }
    if (this.#holds.size > 0 || this.socket.destroyed) return;
    const released = this.#afterRelease;
    this.#afterRelease = [];
    for (const callback of released) callback();
  }

  /** Whether the connection's data is held now (a decision pending or lapsed, or a denial kept open). */
  get held(): boolean {
    return this.#holds.size > 0;
  }

  /**
   * Runs `deliver` once nothing holds the connection; dropped if it closes first. For events node
   * raises from data it read natively before a hold began (an HTTP request parsed from bytes
   * already decrypted), so no handler runs while a decision is pending.
   */
  whenOpen(deliver: () => void): void {
    if (this.#holds.size === 0) deliver();
    else if (this.socket.destroyed) return;
    else if (this.#whenOpen.length < MAX_WAITING_EVENTS) this.#whenOpen.push(deliver);
    else {
      this.destroy(
        ctlsError(
          'ERR_CTLS_HELD_LIMIT',
          `the peer sent more than ${MAX_WAITING_EVENTS} requests or streams while its connection was held`,
        ),
      );
    }
  }

  /**
   * Runs `callback` (the library's own bookkeeping, such as detach()'s) once nothing holds the
   * connection and what waited for that was handed over; dropped if it closes first. Unlike
   * whenOpen() it is not counted against the peer's limit of waiting events.
   */
  onceReleased(callback: () => void): void {
    if (this.#holds.size === 0) callback();
    else if (!this.socket.destroyed) this.#afterRelease.push(callback);
  }

  /**
   * An HTTP/2 stream of this connection was handed to the app. Its session reads and writes the
   * TLS handle natively, past the socket's gates, so a hold also holds each open stream's own data
   * and writes (see ReadGate, WriteGate).
   */
  trackStream(stream: Duplex): void {
    if (this.#streams.has(stream) || stream.destroyed) return;
    this.#streams.set(stream, null);
    this.#trackPushes(stream);
    stream.once('close', () => {
      this.#streams.get(stream)?.read.drop();
      this.#streams.get(stream)?.write.drop();
      this.#streams.delete(stream);
    });
    if (this.#holds.size > 0) {
      const gates = this.#streamGates(stream);
      gates.read.close();
      gates.write.close();
    }
  }

  /**
   * A push stream is the app's own: node never raises it as a server 'stream' event. Each one a
   * tracked stream makes is tracked as it is handed to the app's callback, so a hold holds it too.
   * This runs for every attached HTTP/2 stream: one shared method and one record, no closures.
   */
  #trackPushes(stream: Duplex): void {
    const tracking = stream as PushTracked;
    const record = tracking[kPushTracking];
    if (record !== undefined) {
      // Another attachment on the same server tracks this stream already: its method (perhaps
      // wrapped since) is the one in place, and each push is tracked for both.
      if (!record.subjects.includes(this)) record.subjects.push(this);
      return;
    }
    const original = (stream as { pushStream?: unknown }).pushStream;
    if (typeof original !== 'function') return;
    tracking[kPushTracking] = { subjects: [this], original: original as PushStream };
    tracking.pushStream = trackedPushStream;
  }

  #streamGates(stream: Duplex): TrackedStream {
    let gates = this.#streams.get(stream) ?? null;
    if (gates === null) {
      const write = new WriteGate(stream);
      holdStreamSends(stream, write);
      gates = { read: new ReadGate(stream, null), write };
      this.#streams.set(stream, gates);
    }
    return gates;
  }

  setDeadline(): void {
    // node:tls delivers decrypted data on its own, past any clock check here: the engine's lapse
    // task holds the connection when the decision expires (with or without onExpiry re-checks).
  }

  requestFresh(timeoutMs: number): Promise<void> {
    const socket = this.socket;
    if (socket.getProtocol() === 'TLSv1.3' || !this.isServer) {
      return Promise.reject(
        ctlsError(
          'ERR_CTLS_FRESH_UNSUPPORTED',
          'node:tls offers no post-handshake authentication; fresh re-authentication needs the owned tier on TLS 1.3',
        ),
      );
    }
    const gate = this.#openedGate();
    if (gate === null || gate.readNatively()) {
      // A renegotiation must read the wire, and a native reader (node's HTTP parser, HTTP/2,
      // which forbids renegotiation anyway: RFC 9113 section 9.2.1) would take the request bytes
      // that come with it before any decision.
      return Promise.reject(
        ctlsError(
          'ERR_CTLS_FRESH_UNSUPPORTED',
          'this connection is read natively (HTTP); its data cannot be held through a renegotiation',
        ),
      );
    }
    return new Promise((resolve, reject) => {
      // The engine holds the connection's data meanwhile; the handshake still has to be read.
      const closeWire = gate.openWire();
      const timer = setTimeout(() => {
        this.#ownRenegotiation = false;
        closeWire();
        reject(ctlsError('ERR_CTLS_REAUTH_TIMEOUT', `renegotiation did not finish within ${timeoutMs} ms`));
      }, timerDelay(timeoutMs));
      timer.unref();
      // node counts every handshake start on a server socket against its
      // client-renegotiation limit (tls.CLIENT_RENEG_LIMIT per
      // CLIENT_RENEG_WINDOW), ours included: a second fresh re-check within
      // ten minutes would be reported as ERR_TLS_SESSION_ATTACK. The
      // renegotiations we start are not the peer's doing, so they do not count.
      const handle = (socket as tls.TLSSocket & { _handle?: { handshakes?: unknown } | null })._handle;
      if (handle && typeof handle.handshakes === 'number') handle.handshakes = 0;
      this.#ownRenegotiation = true;
      const started = socket.renegotiate({ requestCert: true, rejectUnauthorized: false }, (error) => {
        this.#ownRenegotiation = false;
        closeWire();
        clearTimeout(timer);
        // The answer may carry other intermediates with the same leaf: read the chain anew.
        this.#lastChain = null;
        if (error) reject(ctlsError('ERR_CTLS_TLS', `renegotiation failed: ${error.message}`, { cause: error }));
        else if (socket.isSessionReused()) {
          // node's SSL_CTX lets a renegotiation resume the session (no
          // SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION): then no certificate was asked for,
          // and the "fresh" answer would be the old one. The fallback decides instead.
          reject(
            ctlsError(
              'ERR_CTLS_FRESH_UNSUPPORTED',
              'the renegotiation resumed the session, so the client presented no new certificate; ' +
                'set secureOptions: crypto.constants.SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION on the server',
            ),
          );
        } else {
          this.#epoch++;
          resolve();
        }
      });
      if (started === false) {
        this.#ownRenegotiation = false;
        closeWire();
        clearTimeout(timer);
        reject(ctlsError('ERR_CTLS_FRESH_UNSUPPORTED', 'node:tls refused to start a renegotiation'));
      }
    });
  }

  info(): Omit<ConnectionInfo, 'ageMs' | 'reauthCount'> {
    const socket = this.socket as tls.TLSSocket & { servername?: string | false };
    const cipher = socket.getCipher();
    const info: Omit<ConnectionInfo, 'ageMs' | 'reauthCount'> = {
      servername: socket.servername ?? false,
      alpnProtocol: socket.alpnProtocol ?? false,
      protocol: socket.getProtocol(),
    };
    if (socket.remoteAddress !== undefined) info.remoteAddress = socket.remoteAddress;
    if (cipher) info.cipher = cipher.standardName;
    return info;
  }

  destroy(error: Error): void {
    this.#gate?.drop();
    this.#writeGate?.drop();
    this.#whenOpen = [];
    this.#afterRelease = [];
    (this.socket as tls.TLSSocket & { destroyReason?: Error }).destroyReason = error;
    if (this.socket.listenerCount('error') > 0) this.socket.destroy(error);
    else this.socket.destroy();
  }
}
