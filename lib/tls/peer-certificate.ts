/**
 * The peer's certificates as a TLSSocket shows them: the chain of the latest exchange (handshake
 * or answered certificate request), read from OpenSSL once and parsed only when asked for, and
 * getPeerCertificate() in node:tls's shape so code written for node:tls reads it unchanged.
 */
import { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import type { NativeTlsConnection } from './native.js';
import { parsedCertificate } from './parsed-certificates.js';
import { rememberedIntermediates, type SecureContext } from './context.js';

export interface PeerCertificateResult {
  /** The presented chain, leaf first. */
  chain: X509Certificate[];
  der: Buffer[];
  /** Whether the chain verified during the exchange (rejectUnauthorized-independent). */
  verified: boolean;
  verifyError?: string;
}

/** The chain the peer presented in one exchange; a new exchange needs a new PeerChain. */
export class PeerChain {
  /** DER, leaf first (empty when the peer presented none or the connection is gone). */
  readonly der: Buffer[];
  #x509: X509Certificate[] = [];
  #verified: X509Certificate[] | null = null;

  constructor(handle: NativeTlsConnection | null) {
    this.der = handle?.getPeerChain() ?? [];
  }

  /** The chain parsed, leaf first; parsed certificates are shared across connections. */
  get x509(): X509Certificate[] {
    if (this.#x509.length !== this.der.length) this.#x509 = this.der.map(parsedCertificate);
    return this.#x509;
  }

  /**
   * The certificates verification stood on, leaf first: the chain OpenSSL built for this exchange
   * (store intermediates and anchor included), or, where OpenSSL built none (a resumed session
   * holds the leaf alone, RFC 8446 section 4.6.1), the leaf with the intermediates it was verified
   * with. Read once per exchange.
   */
  verified(handle: NativeTlsConnection | null, trust: SecureContext): X509Certificate[] {
    if (this.#verified !== null) return this.#verified;
    const leaf = this.der[0];
    if (leaf === undefined || handle === null) return [];
    const built = handle.getVerifiedChain();
    const der = built[0]?.equals(leaf) === true ? built : [leaf, ...rememberedIntermediates(trust, leaf)];
    this.#verified = der.map(parsedCertificate);
    return this.#verified;
  }

  /** What a certificate request resolves with, given OpenSSL's verification error (null: verified). */
  result(verifyError: { code: string } | null): PeerCertificateResult {
    const result: PeerCertificateResult = {
      chain: this.x509,
      der: this.der,
      verified: this.der.length > 0 && verifyError === null,
    };
    if (verifyError !== null) result.verifyError = verifyError.code;
    return result;
  }
}

/** Shaped like node's tls.TLSSocket#getPeerCertificate(detailed); {} when the peer presented nothing. */
export function legacyPeerCertificate(
  presented: X509Certificate[],
  handle: NativeTlsConnection | null,
  detailed: boolean,
): tls.PeerCertificate | tls.DetailedPeerCertificate | Record<string, never> {
  if (presented.length === 0) return {};
  if (!detailed) return presented[0]!.toLegacyObject() as tls.PeerCertificate;
  // Like node, the detailed chain runs up to the trust anchor: take the
  // chain verification built when it extends the presented one.
  let chain = presented;
  const verified = handle?.getVerifiedChain() ?? [];
  if (verified.length > presented.length && verified[0]!.equals(presented[0]!.raw)) {
    chain = verified.map((der) => new X509Certificate(der));
  }
  const objects = chain.map((certificate) => certificate.toLegacyObject() as tls.DetailedPeerCertificate);
  for (let i = 0; i < objects.length; i++) {
    const next = objects[i + 1];
    const current = objects[i]!;
    if (next !== undefined) current.issuerCertificate = next;
    else if (chain[i]!.checkIssued(chain[i]!)) current.issuerCertificate = current;
  }
  return objects[0]!;
}
