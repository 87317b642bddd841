/**
 * The parts of node's TLSWrap handle (a node:tls socket's `_handle`) the attached tier uses: reading
 * starts and stops for the read gate, and the handshake-start hook for the renegotiation guard.
 * `_handle` is private: every use checks the shape first and fails closed (the connection is
 * destroyed) when it is not there.
 */
import type * as tls from 'node:tls';

export interface TlsHandle {
  readStart(): number;
  readStop(): number;
  reading?: boolean;
  onhandshakestart?: (now: number) => unknown;
}

/** The socket's handle when it has the shape the attached tier needs, or null. */
export function tlsHandle(socket: tls.TLSSocket): TlsHandle | null {
  const handle = (socket as tls.TLSSocket & { _handle?: unknown })._handle as Partial<TlsHandle> | null | undefined;
  if (handle === null || handle === undefined || typeof handle !== 'object') return null;
  return typeof handle.readStart === 'function' && typeof handle.readStop === 'function' ? (handle as TlsHandle) : null;
}
