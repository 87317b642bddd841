/**
 * The authorizer's view of a connection, whoever terminates its TLS: our own
 * TLSSocket (owned tier) or an unmodified node:tls socket (attached tier).
 */
import type { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import { ctlsError } from './errors.js';
import type { TLSSocket } from './socket.js';
import type { ConnectionInfo } from './types.js';

export interface AuthorizationSubject {
  readonly kind: 'owned' | 'attached';
  /** The socket users hold (events are emitted on it). */
  readonly socket: TLSSocket | tls.TLSSocket;
  /** Our side is the server, so the peer's chain is checked for client use. */
  readonly isServer: boolean;
  readonly createdAt: number;
  readonly destroyed: boolean;
  peerChain(): X509Certificate[];
  /** OpenSSL's own verdict from the handshake or fresh exchange, when it is ours to trust. */
  exchangeVerdict(): { ok: boolean; code?: string } | null;
  hold(reason: string): void;
  release(reason: string): void;
  /** The allowed decision lapses at `expiresAt` (on `now`'s clock): hold data from then on. */
  setDeadline(expiresAt: number, now: () => number): void;
  /** Ask the peer for a new certificate; rejects with a coded error. */
  requestFresh(timeoutMs: number): Promise<void>;
  info(): Omit<ConnectionInfo, 'ageMs' | 'reauthCount'>;
  destroy(error: Error): void;
}

export class OwnedSubject implements AuthorizationSubject {
  readonly kind = 'owned' as const;
  readonly socket: TLSSocket;
  #freshVerdict: { ok: boolean; code?: string } | null = null;
  #handshakeVerdictUsed = false;

  constructor(socket: TLSSocket) {
    this.socket = socket;
  }

  get isServer(): boolean {
    return this.socket.isServer;
  }

  get createdAt(): number {
    return this.socket.createdAt;
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  peerChain(): X509Certificate[] {
    return this.socket.getPeerCertificateChain();
  }

  exchangeVerdict(): { ok: boolean; code?: string } | null {
    if (this.#freshVerdict !== null) {
      const verdict = this.#freshVerdict;
      this.#freshVerdict = null;
      return verdict;
    }
    if (!this.#handshakeVerdictUsed) {
      this.#handshakeVerdictUsed = true;
      // A resumed session was re-verified by TLSSocket against today's store.
      return this.socket.authorized ? { ok: true } : { ok: false, code: this.socket.authorizationError ?? 'UNSPECIFIED' };
    }
    return null;
  }

  hold(reason: string): void {
    this.socket.hold(reason);
  }

  release(reason: string): void {
    this.socket.release(reason);
  }

  setDeadline(expiresAt: number, now: () => number): void {
    this.socket.setDeadline(expiresAt, now);
  }

  async requestFresh(timeoutMs: number): Promise<void> {
    if (!this.socket.isServer) {
      throw ctlsError('ERR_CTLS_FRESH_UNSUPPORTED', 'a client cannot ask the server for a new certificate; use fresh: false');
    }
    const result = await this.socket.requestCertificate({ timeout: timeoutMs });
    this.#freshVerdict = result.verified ? { ok: true } : { ok: false, code: result.verifyError ?? 'UNSPECIFIED' };
  }

  info(): Omit<ConnectionInfo, 'ageMs' | 'reauthCount'> {
    const socket = this.socket;
    const cipher = socket.getCipher();
    const info: Omit<ConnectionInfo, 'ageMs' | 'reauthCount'> = {
      servername: socket.servername,
      alpnProtocol: socket.alpnProtocol,
      protocol: socket.getProtocol(),
    };
    if (socket.remoteAddress !== undefined) info.remoteAddress = socket.remoteAddress;
    if (cipher !== undefined) info.cipher = cipher.standardName;
    return info;
  }

  destroy(error: Error): void {
    this.socket.destroyReason = error;
    if (this.socket.listenerCount('error') > 0) this.socket.destroy(error);
    else this.socket.destroy();
  }
}
