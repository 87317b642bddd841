/**
 * The attached tier's view of a connection: an unmodified node:tls socket.
 */
import type { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import { ctlsError } from './errors.js';
import { isPeerLeaf } from './node-peer.js';
import { parsedCertificate } from './parsed-certificates.js';
import type { AuthorizationSubject } from './subject.js';
import type { SecureContext } from './context.js';
import type { ConnectionInfo } from './types.js';

/**
 * node:tls sockets expose no post-handshake auth and no way to hold decrypted
 * data inside the stream, so the attached tier pauses the socket while a
 * decision is pending and revalidates the chain it already has.
 */
export class AttachedSubject implements AuthorizationSubject {
  readonly kind = 'attached' as const;
  readonly socket: tls.TLSSocket;
  readonly isServer: boolean;
  readonly createdAt = Date.now();
  #holds = new Set<string>();
  #wasPaused = false;
  #presentedIntermediates: X509Certificate[] = [];
  #lastChain: X509Certificate[] | null = null;
  #configuredIntermediates: () => readonly X509Certificate[];
  #completion: { leaf: X509Certificate; pool: readonly X509Certificate[]; chain: readonly X509Certificate[] } | null = null;

  /**
   * `intermediates` gives the attachment's configured untrusted intermediates, read at each
   * decision so a rotation applies at once.
   */
  readonly trust: SecureContext;
  #epoch = 1;

  constructor(socket: tls.TLSSocket, isServer: boolean, trust: SecureContext, intermediates: () => readonly X509Certificate[] = () => []) {
    this.socket = socket;
    this.isServer = isServer;
    this.trust = trust;
    this.#configuredIntermediates = intermediates;
  }

  /** Moves on whenever node reports another leaf than the one last read (a renegotiation). */
  get certificateEpoch(): number {
    const last = this.#lastChain;
    if (last !== null && !isPeerLeaf(this.socket, last[0]!)) {
      this.#lastChain = null;
      this.#epoch++;
    }
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

  exchangeVerdict(): null {
    // node:tls verified against its own CA option; the attachment's trust store decides.
    return null;
  }

  hold(reason: string): void {
    if (this.#holds.size === 0) {
      this.#wasPaused = this.socket.isPaused();
      this.socket.pause();
    }
    this.#holds.add(reason);
  }

  release(reason: string): void {
    if (!this.#holds.delete(reason) || this.#holds.size > 0) return;
    if (!this.#wasPaused && !this.socket.destroyed) this.socket.resume();
  }

  setDeadline(): void {
    // node:tls delivers decrypted data on its own; the expiry task pauses it.
  }

  requestFresh(timeoutMs: number): Promise<void> {
    const socket = this.socket;
    if (socket.getProtocol() === 'TLSv1.3' || !this.isServer) {
      return Promise.reject(
        ctlsError('ERR_CTLS_FRESH_UNSUPPORTED', 'node:tls offers no post-handshake authentication; fresh re-authentication needs the owned tier on TLS 1.3'),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
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
      const started = socket.renegotiate({ requestCert: true, rejectUnauthorized: false }, (error) => {
        clearTimeout(timer);
        // The answer may carry other intermediates with the same leaf: read the chain anew.
        this.#lastChain = null;
        if (error) reject(ctlsError('ERR_CTLS_TLS', `renegotiation failed: ${error.message}`, { cause: error }));
        else resolve();
      });
      if (started === false) {
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
    (this.socket as tls.TLSSocket & { destroyReason?: Error }).destroyReason = error;
    if (this.socket.listenerCount('error') > 0) this.socket.destroy(error);
    else this.socket.destroy();
  }
}
