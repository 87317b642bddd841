/**
 * The authorizer's view of a connection, whoever terminates its TLS: our own
 * TLSSocket (owned tier) or an unmodified node:tls socket (attached tier).
 */
import type { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import { ctlsError } from '../common/errors.js';
import {
  kCertificateEpoch,
  kDeny,
  kEngineRequest,
  kExchangeVerdict,
  kVerifiedChain,
  type ExchangeVerdict,
  type TLSSocket,
} from '../tls/socket.js';
export type { ExchangeVerdict } from '../tls/socket.js';
import type { SecureContext } from '../tls/context.js';
import type { ConnectionInfo } from '../common/types.js';

export interface AuthorizationSubject {
  readonly kind: 'owned' | 'attached';
  /** The socket users hold (events are emitted on it). */
  readonly socket: TLSSocket | tls.TLSSocket;
  /** Our side is the server, so the peer's chain is checked for client use. */
  readonly isServer: boolean;
  readonly createdAt: number;
  readonly destroyed: boolean;
  /** The context whose CAs, CRLs and revocation mode verify this peer (per SNI name on a server). */
  readonly trust: SecureContext;
  /** Counts certificates the peer presented on this connection; changes with every new one. */
  readonly certificateEpoch: number;
  peerChain(): X509Certificate[];
  /**
   * Certificates verification stood on beyond the presented ones (store intermediates, the
   * anchor, a resumed session's remembered intermediates); guards judge them too. Optional.
   */
  verifiedChain?(): X509Certificate[];
  /** OpenSSL's own verdict from the last certificate exchange, when it is ours to trust. */
  exchangeVerdict(): ExchangeVerdict | null;
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

  get trust(): SecureContext {
    return this.socket.secureContext;
  }

  get certificateEpoch(): number {
    return this.socket[kCertificateEpoch];
  }

  peerChain(): X509Certificate[] {
    return this.socket.getPeerCertificateChain();
  }

  verifiedChain(): X509Certificate[] {
    return this.socket[kVerifiedChain]();
  }

  exchangeVerdict(): ExchangeVerdict | null {
    return this.socket[kExchangeVerdict];
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
      throw ctlsError(
        'ERR_CTLS_FRESH_UNSUPPORTED',
        'a client cannot ask the server for a new certificate; use fresh: false',
      );
    }
    // The engine decides on the answer itself; the socket must not ask it again.
    await this.socket.requestCertificate({ timeout: timeoutMs, [kEngineRequest]: true });
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
    this.socket[kDeny](error);
  }
}
