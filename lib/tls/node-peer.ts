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
import { nodeLinksPeerChain } from './peer-chain-probe.js';

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

/** More presented certificates than any real chain has; past it the rest is not read. */
const MAX_PRESENTED = 16;

/**
 * What the peer presented, leaf first, then each certificate's issuer among the presented ones, as
 * node's `getPeerCertificate(true)` links them; a self-issued issuer (a root) and what follows are
 * left out: trust comes from the caller's CAs. Empty when the peer presented no certificate.
 * Certificates come from parsedCertificate(), so the same DER is always the same object.
 */
export function presentedChain(socket: tls.TLSSocket): X509Certificate[] {
  return nodeLinksPeerChain() ? linkedChain(socket) : detailedChain(socket);
}

/** Through getPeerX509Certificate's issuer links, where the probe showed they are a copy. */
function linkedChain(socket: tls.TLSSocket): X509Certificate[] {
  const leaf = socket.getPeerX509Certificate();
  if (leaf === undefined) return [];
  const presented: X509Certificate[] = [];
  for (let next = leaf.issuerCertificate; next !== undefined && presented.length < MAX_PRESENTED;) {
    presented.push(parsedCertificate(next.raw));
    next = next.issuerCertificate;
  }
  const chain = [parsedCertificate(leaf.raw)];
  // The links follow the order the peer sent; node's detailed chain follows issuance.
  for (let current = chain[0]!; ;) {
    const issuer = presented.find((candidate) => !chain.includes(candidate) && current.checkIssued(candidate));
    if (issuer === undefined || issuer.checkIssued(issuer)) break;
    chain.push(issuer);
    current = issuer;
  }
  return chain;
}

/** Through getPeerCertificate(true), which leaves OpenSSL's list as it is on every Node. */
function detailedChain(socket: tls.TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let current = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | Record<string, never> | null;
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
  return chain;
}
