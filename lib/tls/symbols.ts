/**
 * The symbol keys by which the layers above reach into a TLSSocket without widening its public
 * surface (socket.ts re-exports them; other layers import them from there).
 */
import type { Decision } from '../common/types.js';

/** The engine's own certificate requests are decided by the engine; the socket does not report them. */
export const kEngineRequest = Symbol('continuous-tls.engineRequest');
/** Counts the certificates the peer presented (handshake, then each fresh exchange). */
export const kCertificateEpoch = Symbol('continuous-tls.certificateEpoch');
/** OpenSSL's verdict on the latest certificate, with the trust it was made under. */
export const kExchangeVerdict = Symbol('continuous-tls.exchangeVerdict');
/** The certificates verification stood on for the latest exchange (guards judge them too). */
export const kVerifiedChain = Symbol('continuous-tls.verifiedChain');
/** Ends a connection the engine denied, telling the peer why with a TLS alert first. */
export const kDeny = Symbol('continuous-tls.deny');
/** Bytes the socket's transport has yet to write, on either I/O path (for diagnostics and tests). */
export const kTransportQueue = Symbol('continuous-tls.transportQueue');
/** The authorizer that tracks the socket, which `socket.decision` asks (set by the engine). */
export const kOwner = Symbol('continuous-tls.owner');

/** What the socket needs from whoever tracks it. */
export interface SocketOwner {
  decisionOf(socket: object): Decision | null;
}
