/**
 * The peer's certificates as a TLSSocket shows them: the chain of the latest exchange (handshake
 * or answered certificate request), read from OpenSSL once and parsed only when asked for, and
 * getPeerCertificate() in node:tls's shape so code written for node:tls reads it unchanged.
 */
import { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import type { NativeTlsConnection } from './native.js';
import { parsedCertificate } from './parsed-certificates.js';
import { verifyWithHorizon, type SecureContext } from './context.js';

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
  #verified: { trust: SecureContext; generation: number; chain: X509Certificate[] } | null = null;

  constructor(handle: NativeTlsConnection | null) {
    this.der = handle?.getPeerChain() ?? [];
  }

  /** The chain parsed, leaf first; parsed certificates are shared across connections. */
  get x509(): X509Certificate[] {
    if (this.#x509.length !== this.der.length) this.#x509 = this.der.map(parsedCertificate);
    return this.#x509;
  }

  /**
   * The certificates verification stood on, leaf first and trust anchor last: the chain OpenSSL
   * built for this exchange while `trust` is still as it was then (`handshakeCurrent`), else (a
   * trust change since, or a resumed session, which holds the leaf alone, RFC 8446 section 4.6.1,
   * and for which OpenSSL built none) the chain the library's own verification of the presented
   * certificates builds under `trust` as it is now. Read once per exchange and trust generation;
   * empty without a leaf, and the leaf alone when it does not verify.
   */
  verified(
    handle: NativeTlsConnection | null,
    trust: SecureContext,
    purpose: 'sslclient' | 'sslserver',
    handshakeCurrent: boolean,
  ): X509Certificate[] {
    const leaf = this.der[0];
    if (leaf === undefined || handle === null) return [];
    const memo = this.#verified;
    if (memo !== null && memo.trust === trust && memo.generation === trust.trustGeneration) return memo.chain;
    const built = handshakeCurrent ? handle.getVerifiedChain() : [];
    const der = built[0]?.equals(leaf) === true ? built : (verifyWithHorizon(trust, this.der, purpose).chain ?? [leaf]);
    const chain = der.filter(Buffer.isBuffer).map(parsedCertificate);
    this.#verified = { trust, generation: trust.trustGeneration, chain };
    return chain;
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

/**
 * Shaped like node's tls.TLSSocket#getPeerCertificate(detailed); {} when the peer presented nothing.
 * `verified` gives the chain verification stood on (PeerChain#verified), read only when detailed.
 */
export function legacyPeerCertificate(
  presented: X509Certificate[],
  verified: () => X509Certificate[],
  detailed: boolean,
): tls.PeerCertificate | tls.DetailedPeerCertificate | Record<string, never> {
  if (presented.length === 0) return {};
  if (!detailed) return presented[0]!.toLegacyObject() as tls.PeerCertificate;
  // Like node, the detailed chain runs up to the trust anchor in order of issuance: it is the chain
  // verification stood on whenever there is one. The list as presented may carry certificates
  // verification never used, in any order, and must not pass for the chain.
  const built = verified();
  const chain = built.length > 1 && built[0]!.fingerprint256 === presented[0]!.fingerprint256 ? built : presented;
  const objects = chain.map((certificate) => certificate.toLegacyObject() as tls.DetailedPeerCertificate);
  for (let i = 0; i < objects.length; i++) {
    const next = objects[i + 1];
    const current = objects[i]!;
    if (next !== undefined) current.issuerCertificate = next;
    else if (chain[i]!.checkIssued(chain[i]!)) current.issuerCertificate = current;
  }
  return objects[0]!;
}
