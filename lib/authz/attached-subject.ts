/**
 * The attached tier's view of a connection: an unmodified node:tls socket.
 */
import type { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import { ctlsError } from '../common/errors.js';
import { isPeerLeaf } from '../tls/node-peer.js';
import { parsedCertificate } from '../tls/parsed-certificates.js';
import type { SecureContext } from '../tls/context.js';
import type { AuthorizationSubject } from './subject.js';
import type { ConnectionInfo } from '../common/types.js';

/**
 * The intermediates each leaf was presented with in a chain that verified, remembered by the
 * attachment. A resumed session reports its leaf alone (the session stores the peer certificate,
 * not the chain it came with, RFC 8446 section 4.6.1, RFC 5077 section 4), so its revalidation
 * needs the chain of the handshake that established it.
 */
export interface PresentedChains {
  /** The intermediates `leaf` (exactly these DER bytes) was last verified with, if known. */
  recall(leaf: X509Certificate): readonly X509Certificate[] | undefined;
  remember(leaf: X509Certificate, intermediates: readonly X509Certificate[]): void;
}

/** What an attachment gives each of its connections. */
export interface AttachedTrust {
  trust: SecureContext;
  /** The configured untrusted intermediates, read at each decision. */
  intermediates?: () => readonly X509Certificate[];
  chains?: PresentedChains;
}

/**
 * The parts of node's TLSWrap handle the gate needs. `_handle` is private: every use checks the
 * shape first and fails closed (the connection is destroyed) when it is not there.
 */
interface TlsHandle {
  readStart(): number;
  readStop(): number;
  reading?: boolean;
  onhandshakestart?: (now: number) => unknown;
}

type Held = Buffer | string | Uint8Array | null;
const HOLD_RENEGOTIATION = 'renegotiation';
/**
 * Decrypted bytes queued while held. The wire is stopped then, so only what node had already
 * received arrives, except during our own renegotiation, which must read the peer's handshake:
 * past this, the wire stops again and the renegotiation times out (denied).
 */
const MAX_HELD_BYTES = 1024 * 1024;

function tlsHandle(socket: tls.TLSSocket): TlsHandle | null {
  const handle = (socket as tls.TLSSocket & { _handle?: unknown })._handle as Partial<TlsHandle> | null | undefined;
  if (handle === null || handle === undefined || typeof handle !== 'object') return null;
  return typeof handle.readStart === 'function' && typeof handle.readStop === 'function' ? (handle as TlsHandle) : null;
}

/**
 * Holds a node:tls socket's decrypted data for every way of reading it. Pausing only holds
 * `on('data')`: `read()`, `'readable'`, `for await` and `pipe()` all pull from the Readable buffer
 * through `socket.read()`, and node's HTTP/1 and HTTP/2 servers read the TLS handle natively.
 * So while held: the handle stops reading the wire (and a readStart from node's HTTP server is
 * deferred), chunks the handle still decrypts are queued instead of pushed, and `read()` returns
 * nothing, which also keeps what already sits in the Readable buffer. On release the queue is
 * pushed in order and readers are woken; on destroy it is dropped.
 */
class ReadGate {
  readonly #socket: tls.TLSSocket;
  readonly #handle: TlsHandle;
  readonly #start: () => number;
  readonly #push: (chunk: Held, encoding?: BufferEncoding) => boolean;
  readonly #read: (size?: number) => unknown;
  #held = false;
  #queue: Array<[Held, BufferEncoding | undefined]> = [];
  #queuedBytes = 0;
  #releasing = false;
  /** The wire is read while held: a renegotiation of ours needs the peer's handshake records. */
  #wireOpen = false;

  constructor(socket: tls.TLSSocket, handle: TlsHandle) {
    this.#socket = socket;
    this.#handle = handle;
    const start = handle.readStart;
    const push = socket.push;
    const read = socket.read;
    this.#start = () => start.call(handle);
    this.#push = (chunk, encoding) => push.call(socket, chunk, encoding);
    this.#read = (size) => read.call(socket, size);
    // Own properties shadow node's prototype methods on this one socket and handle. node itself
    // calls them by name: net's onStreamRead does `stream.push(buf)`, Readable's flow, resume and
    // async iterator do `stream.read()`, and net / the HTTP server do `handle.readStart()`.
    handle.readStart = () => (this.#held && !this.#wireOpen ? 0 : start.call(handle));
    socket.push = (chunk: Held, encoding?: BufferEncoding): boolean => {
      if (!this.#held && this.#queue.length === 0) return push.call(socket, chunk, encoding);
      if (socket.destroyed) return false;
      this.#queue.push([chunk, encoding]);
      this.#queuedBytes += chunk === null ? 0 : chunk.length;
      if (this.#queuedBytes > MAX_HELD_BYTES && this.#wireOpen) {
        this.#wireOpen = false;
        handle.readStop();
      }
      return true;
    };
    socket.read = ((size?: number) => (this.#held || this.#queue.length > 0 ? null : read.call(socket, size))) as typeof socket.read;
  }

  /** Whether a native consumer (node's HTTP/1 parser, an HTTP/2 session) reads the handle, past push(). */
  readNatively(): boolean {
    return (this.#handle as TlsHandle & { _consumed?: unknown })._consumed === true || this.#socket.alpnProtocol === 'h2';
  }

  close(): void {
    if (this.#held) return;
    this.#held = true;
    if (!this.#wireOpen) this.#handle.readStop();
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
      if (this.#held) this.#handle.readStop();
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
    if (this.#handle.reading !== false) this.#start();
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
  #gate: ReadGate | null;
  #presentedIntermediates: X509Certificate[] = [];
  #lastChain: X509Certificate[] | null = null;
  #configuredIntermediates: () => readonly X509Certificate[];
  #chains: PresentedChains | null;
  #completion: { leaf: X509Certificate; pool: readonly X509Certificate[]; chain: readonly X509Certificate[] } | null = null;
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
    this.#gate = handle === null ? null : new ReadGate(socket, handle);
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
    // again: hundreds of µs per connection at each revalidation. While the leaf is unchanged (no
    // renegotiation brought another certificate) the chain built last time is still the presented one.
    let presented = this.#lastChain;
    if (presented === null || !isPeerLeaf(this.socket, presented[0]!)) {
      presented = this.#buildPeerChain();
      this.#lastChain = presented.length > 0 ? presented : null;
    }
    return presented.length === 1 ? this.#completeLoneLeaf(presented[0]!) : [...presented];
  }

  #buildPeerChain(): X509Certificate[] {
    const chain: X509Certificate[] = [];
    let current = this.socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | Record<string, never>;
    const seen = new Set<string>();
    while (current && 'raw' in current && current.raw && !seen.has(current.fingerprint256)) {
      seen.add(current.fingerprint256);
      // The same client comes back with the same certificates: parse each DER once (see parsed-certificates.ts).
      const certificate = parsedCertificate(current.raw);
      // Node ends a detailed chain with the root pointing at itself; the root
      // comes from the trust store, not from what the peer presented.
      if (chain.length > 0 && certificate.checkIssued(certificate)) break;
      chain.push(certificate);
      current = current.issuerCertificate;
    }
    // After a TLS 1.2 renegotiation node reports the leaf alone (the
    // intermediates it received are not linked any more): reuse the ones
    // presented at the handshake when they issued the current leaf.
    const leaf = chain[0];
    const known = this.#presentedIntermediates[0];
    if (chain.length > 1) this.#presentedIntermediates = chain.slice(1);
    else if (leaf !== undefined && known !== undefined && leaf.checkIssued(known)) chain.push(...this.#presentedIntermediates);
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

  hold(reason: string): void {
    const first = this.#holds.size === 0;
    this.#holds.add(reason);
    if (!first) return;
    if (this.#gate !== null) this.#gate.close();
    else if (!this.socket.destroyed) {
      // No handle to stop (node changed its internals): nothing can be held, so nothing passes.
      this.destroy(ctlsError('ERR_CTLS_HOLD_UNSUPPORTED', 'node:tls changed: the attached tier cannot hold this connection\'s data'));
    }
  }

  release(reason: string): void {
    if (!this.#holds.delete(reason) || this.#holds.size > 0) return;
    if (this.socket.destroyed) return;
    this.#gate?.open();
    const waiting = this.#whenOpen;
    this.#whenOpen = [];
    for (const deliver of waiting) {
      if (this.#holds.size > 0 || this.socket.destroyed) {
        // Held again (or cut) by what the last delivery did: the rest waits for the next release.
        if (!this.socket.destroyed) this.#whenOpen.push(deliver);
        continue;
      }
      deliver();
    }
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
    else if (!this.socket.destroyed) this.#whenOpen.push(deliver);
  }

  setDeadline(): void {
    // node:tls delivers decrypted data on its own; the engine's expiry task holds it.
  }

  requestFresh(timeoutMs: number): Promise<void> {
    const socket = this.socket;
    if (socket.getProtocol() === 'TLSv1.3' || !this.isServer) {
      return Promise.reject(
        ctlsError('ERR_CTLS_FRESH_UNSUPPORTED', 'node:tls offers no post-handshake authentication; fresh re-authentication needs the owned tier on TLS 1.3'),
      );
    }
    if (this.#gate === null || this.#gate.readNatively()) {
      // A renegotiation must read the wire, and a native reader (node's HTTP parser, HTTP/2,
      // which forbids renegotiation anyway: RFC 9113 section 9.2.1) would take the request bytes
      // that come with it before any decision.
      return Promise.reject(ctlsError('ERR_CTLS_FRESH_UNSUPPORTED', 'this connection is read natively (HTTP); its data cannot be held through a renegotiation'));
    }
    return new Promise((resolve, reject) => {
      // The engine holds the connection's data meanwhile; the handshake still has to be read.
      const closeWire = this.#gate?.openWire() ?? (() => {});
      const timer = setTimeout(() => {
        this.#ownRenegotiation = false;
        closeWire();
        reject(ctlsError('ERR_CTLS_REAUTH_TIMEOUT', `renegotiation did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
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
          reject(ctlsError('ERR_CTLS_FRESH_UNSUPPORTED', 'the renegotiation resumed the session, so the client presented no new certificate; ' +
            'set secureOptions: crypto.constants.SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION on the server'));
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
    this.#whenOpen = [];
    (this.socket as tls.TLSSocket & { destroyReason?: Error }).destroyReason = error;
    if (this.socket.listenerCount('error') > 0) this.socket.destroy(error);
    else this.socket.destroy();
  }
}
