/**
 * Whether a connection's presented chain verifies against its trust context as it is now: today's
 * CAs, CRLs and clock. OpenSSL's verdict is reused only while nothing it depended on has changed;
 * the clock is checked every time, at millisecond precision (OpenSSL's is per second).
 */
import type { X509Certificate } from 'node:crypto';
import type { AuthorizationSubject } from './subject.js';
import { VerifyCache, type ChainVerdict } from './verify-cache.js';
export type { ChainVerdict } from './verify-cache.js';

interface Validity {
  notBefore: number;
  notAfter: number;
}

// A certificate's dates never change: parse them once per certificate object.
const validityCache = new WeakMap<X509Certificate, Validity>();

function validityOf(certificate: X509Certificate): Validity {
  let validity = validityCache.get(certificate);
  if (validity === undefined) {
    validity = { notBefore: Date.parse(certificate.validFrom), notAfter: Date.parse(certificate.validTo) };
    validityCache.set(certificate, validity);
  }
  return validity;
}

/** The clock check of every presented certificate. */
function validityVerdict(chain: readonly X509Certificate[], now: number): ChainVerdict {
  for (const certificate of chain) {
    const { notBefore, notAfter } = validityOf(certificate);
    if (now >= notAfter) return { ok: false, code: 'CERT_HAS_EXPIRED' };
    if (now < notBefore) return { ok: false, code: 'CERT_NOT_YET_VALID' };
  }
  return { ok: true };
}

/** When the first presented certificate expires. */
export function chainNotAfter(chain: readonly X509Certificate[]): number {
  let earliest = Infinity;
  for (const certificate of chain) earliest = Math.min(earliest, validityOf(certificate).notAfter);
  return earliest;
}

export class ChainVerifier {
  readonly #cache = new VerifyCache();

  /** The verdict on `chain`, the chain `subject` presents, at `now`. */
  verdict(subject: AuthorizationSubject, chain: X509Certificate[], now: number): ChainVerdict {
    const verdict = this.#verdict(subject, chain, now);
    // A CA or intermediate from the store that has expired since is no anchor any more.
    if (verdict.ok && verdict.notAfter !== undefined && now >= verdict.notAfter)
      return { ok: false, code: 'CERT_HAS_EXPIRED' };
    return verdict;
  }

  #verdict(subject: AuthorizationSubject, chain: X509Certificate[], now: number): ChainVerdict {
    const trust = subject.trust;
    const validity = validityVerdict(chain, now);
    // OpenSSL's own verdict from the handshake or the last fresh exchange, while nothing it
    // depended on has changed: the same context at the same generation, the same certificate.
    const exchange = subject.exchangeVerdict();
    if (
      exchange !== null &&
      exchange.trust === trust &&
      exchange.generation === trust.trustGeneration &&
      exchange.epoch === subject.certificateEpoch
    ) {
      if (!exchange.ok || !validity.ok) return exchange.ok ? validity : exchange;
      // A verdict that names no horizon says nothing of when the CAs it chained to expire (the
      // presented chain may lack them: a resumed session holds the leaf alone): verify again below.
      if (exchange.notAfter !== undefined) return { ok: true, notAfter: exchange.notAfter };
    }
    if (!validity.ok) return validity;
    return this.#cache.verify(trust, chain, subject.isServer ? 'sslclient' : 'sslserver', now);
  }
}
