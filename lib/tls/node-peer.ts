/**
 * The peer certificate of a node:tls socket, read without side effects.
 *
 * On Node 20, `tls.TLSSocket#getPeerX509Certificate()` takes the leaf out of OpenSSL's own list of
 * the certificates the peer presented: every later `getPeerCertificate(true)` on that socket (the
 * app's, or the attached tier's revalidation) sees a shorter chain, without its intermediates.
 * This module reads the leaf through `getPeerCertificate()` instead, which only copies, and keeps
 * the parsed certificate per socket so a keep-alive connection looks it up once (the parse itself is
 * shared across connections, see parsed-certificates.ts).
 *
 * node:tls has no post-handshake authentication, so on TLS 1.3 the peer's certificate cannot
 * change during a connection. On TLS 1.2 a renegotiation can bring another one, so the memo is
 * checked against the bytes node reports each time.
 */
import type { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import { parsedCertificate } from './parsed-certificates.js';

interface Memo {
  raw: Buffer;
  certificate: X509Certificate;
}

const leaves = new WeakMap<tls.TLSSocket, Memo>();

/** The leaf the peer presented, or undefined when it presented none. */
export function peerLeaf(socket: tls.TLSSocket): X509Certificate | undefined {
  const memo = leaves.get(socket);
  if (memo !== undefined && socket.getProtocol() === 'TLSv1.3') return memo.certificate;
  const raw = presentedLeafBytes(socket);
  if (raw === undefined) return undefined;
  if (memo !== undefined && memo.raw.equals(raw)) return memo.certificate;
  const certificate = parsedCertificate(raw);
  leaves.set(socket, { raw, certificate });
  return certificate;
}

/** Whether `certificate` is still the leaf node holds for `socket`. */
export function isPeerLeaf(socket: tls.TLSSocket, certificate: X509Certificate): boolean {
  if (socket.getProtocol() === 'TLSv1.3') return true;
  const raw = presentedLeafBytes(socket);
  return raw !== undefined && certificate.raw.equals(raw);
}

function presentedLeafBytes(socket: tls.TLSSocket): Buffer | undefined {
  const summary = socket.getPeerCertificate() as Partial<tls.PeerCertificate> | null;
  return summary?.raw !== undefined && summary.raw.length > 0 ? summary.raw : undefined;
}
