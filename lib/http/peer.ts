/**
 * The client identity a REST request is judged on: the certificate of the handshake that is in
 * force on its connection, whether that handshake verified it, and the validity window of its chain.
 *
 * node:tls sets `socket.authorized` once, at the first handshake, and never resets it. On TLS 1.2
 * a renegotiation (started by either side, RFC 5746) can bring another certificate, which
 * `getPeerCertificate()` then reports while `authorized` still describes the first one. So on
 * TLS 1.2 the verification result is read again for every request from the TLS handle: OpenSSL's
 * SSL_get_verify_result() is the result of the chain presented in the latest handshake (or of the
 * session it resumed). TLS 1.3 has no renegotiation and node offers no post-handshake
 * authentication, so there the first handshake's result stands.
 */
import { X509Certificate } from 'node:crypto';
import { TLSSocket, type PeerCertificate, type DetailedPeerCertificate } from 'node:tls';
import { peerLeaf } from '../tls/node-peer.js';

export interface PeerIdentity {
  certificate?: X509Certificate;
  verified: boolean;
  verifyError?: string;
  /** Epoch ms: the presented chain is valid from notBefore (latest of the chain) to notAfter (earliest). */
  notBefore: number;
  notAfter: number;
}

/** The socket shapes authorizeRequest reads: node's TLSSocket, the owned tier's, or plain TCP. */
export interface PeerSocket {
  getPeerX509Certificate?(): X509Certificate | undefined;
  getPeerCertificate?(detailed?: boolean): PeerCertificate | DetailedPeerCertificate | Record<string, never> | null;
  authorized?: boolean;
  authorizationError?: string | Error | null;
  remoteAddress?: string;
  servername?: string | false;
  alpnProtocol?: string | false;
  getProtocol?(): string | null;
  getCipher?(): { name: string } | undefined;
  reauthCount?: number;
}

interface TlsHandle {
  verifyError?(): (Error & { code?: string }) | null | undefined;
}

/** The validity window of the chain a socket presented with its current leaf. */
const windows = new WeakMap<object, { leaf: X509Certificate; notBefore: number; notAfter: number }>();

export function peerIdentity(socket: PeerSocket): PeerIdentity {
  const nodeTls = socket instanceof TLSSocket;
  const certificate = nodeTls ? peerLeaf(socket) : socket.getPeerX509Certificate?.();
  if (certificate === undefined) return { verified: false, notBefore: -Infinity, notAfter: Infinity };
  let verified = socket.authorized === true;
  let verifyError =
    typeof socket.authorizationError === 'string' ? socket.authorizationError : socket.authorizationError?.message;
  if (nodeTls && verified && socket.getProtocol() !== 'TLSv1.3') {
    const handle = (socket as unknown as { _handle?: TlsHandle | null })._handle;
    // No handle (the socket is closing) or no way to ask: not known to be verified.
    const error: (Error & { code?: string }) | null | undefined =
      typeof handle?.verifyError === 'function' ? handle.verifyError() : new Error('UNKNOWN');
    if (error) {
      verified = false;
      verifyError = error.code ?? error.message;
    }
  }
  const window = chainWindow(socket, certificate);
  const identity: PeerIdentity = { certificate, verified, notBefore: window.notBefore, notAfter: window.notAfter };
  if (!verified) identity.verifyError = verifyError ?? 'UNKNOWN';
  return identity;
}

/** The chain a socket presented with its current leaf, as X509Certificates (leaf first). */
const chains = new WeakMap<object, { leaf: X509Certificate; chain: X509Certificate[] }>();

/**
 * The presented chain behind `leaf`, for checks that must see intermediates too (a revoked
 * intermediate revokes what it issued). Parsed once per socket and leaf.
 */
export function peerChain(socket: PeerSocket, leaf: X509Certificate): X509Certificate[] {
  const known = chains.get(socket);
  if (known !== undefined && known.leaf === leaf) return known.chain;
  const chain = [leaf];
  let link = (socket.getPeerCertificate?.(true) as DetailedPeerCertificate | null | undefined)?.issuerCertificate;
  for (let depth = 0; link && link.raw !== undefined && depth < 16; depth++) {
    const previous = chain[chain.length - 1]!;
    // node's list ends with the root linking to itself.
    if (link.raw.equals(previous.raw)) break;
    chain.push(new X509Certificate(link.raw));
    if (link.issuerCertificate === link) break;
    link = link.issuerCertificate;
  }
  chains.set(socket, { leaf, chain });
  return chain;
}

function chainWindow(socket: PeerSocket, leaf: X509Certificate): { notBefore: number; notAfter: number } {
  const known = windows.get(socket);
  if (known !== undefined && known.leaf === leaf) return known;
  let notBefore = Date.parse(leaf.validFrom);
  let notAfter = Date.parse(leaf.validTo);
  // node lists the chain as issuerCertificate links; the root links to itself.
  let link = socket.getPeerCertificate?.(true) as DetailedPeerCertificate | null | undefined;
  for (let depth = 0; link && link.raw !== undefined && depth < 16; depth++) {
    const from = Date.parse(link.valid_from);
    const to = Date.parse(link.valid_to);
    if (from > notBefore) notBefore = from;
    if (to < notAfter) notAfter = to;
    if (link.issuerCertificate === link) break;
    link = link.issuerCertificate;
  }
  const window = { leaf, notBefore, notAfter };
  windows.set(socket, window);
  return window;
}
