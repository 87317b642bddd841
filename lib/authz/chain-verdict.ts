/**
 * Whether a connection's presented chain verifies against its trust context as it is now: today's
 * CAs, CRLs and clock. OpenSSL's verdict is reused only while nothing it depended on has changed;
 * the clock is checked every time, at millisecond precision (OpenSSL's is per second).
 */
import type { X509Certificate } from 'node:crypto';
import type { AuthorizationSubject } from './subject.js';
import type { SecureContext } from '../tls/context.js';
import { VerifyCache, type ChainQuestion, type ChainVerdict } from './verify-cache.js';
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

  /**
   * Verifies ahead, off the event loop and in parallel, the chains that verdict() would have to ask
   * OpenSSL about for these subjects now (see VerifyCache#prefetch): a trust change sweep calls it
   * while it holds them, then decides each one as before. A subject whose chain cannot be read is
   * left to its own decision.
   */
  async prefetch(subjects: Iterable<AuthorizationSubject>, now: () => number): Promise<void> {
    const byTrust = new Map<SecureContext, ChainQuestion[]>();
    // The connections of one client present the very same certificate objects (each DER is parsed
    // once, see parsed-certificates.ts): each distinct question is asked once, and keyed once.
    const seen = new Map<X509Certificate, Array<ChainQuestion & { trust: SecureContext }>>();
    const at = now();
    for (const subject of subjects) {
      let chain: X509Certificate[];
      let trust: SecureContext;
      let purpose: 'sslclient' | 'sslserver';
      try {
        if (subject.destroyed) continue;
        chain = subject.peerChain();
        trust = subject.trust;
        purpose = purposeOf(subject);
      } catch {
        continue;
      }
      const leaf = chain[0];
      if (leaf === undefined) continue;
      let asked = seen.get(leaf);
      if (asked === undefined) seen.set(leaf, (asked = []));
      if (
        asked.some(
          (other) => other.trust === trust && other.purpose === purpose && sameCertificates(other.chain, chain),
        )
      )
        continue;
      asked.push({ chain, purpose, trust });
      if (this.#settledWithoutOpenSsl(subject, chain, at) !== undefined) continue;
      let questions = byTrust.get(trust);
      if (questions === undefined) byTrust.set(trust, (questions = []));
      questions.push({ chain, purpose });
    }
    await Promise.all([...byTrust].map(([trust, questions]) => this.#cache.prefetch(trust, questions, now)));
  }

  #verdict(subject: AuthorizationSubject, chain: X509Certificate[], now: number): ChainVerdict {
    return (
      this.#settledWithoutOpenSsl(subject, chain, now) ??
      this.#cache.verify(subject.trust, chain, purposeOf(subject), now)
    );
  }

  /** The verdict when the clock or the last exchange's own verdict settles it; undefined when OpenSSL must. */
  #settledWithoutOpenSsl(
    subject: AuthorizationSubject,
    chain: X509Certificate[],
    now: number,
  ): ChainVerdict | undefined {
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
    return validity.ok ? undefined : validity;
  }
}

function sameCertificates(a: readonly X509Certificate[], b: readonly X509Certificate[]): boolean {
  return a === b || (a.length === b.length && a.every((certificate, i) => certificate === b[i]));
}

/** A server verifies its client's chain as a client's, and a client its server's as a server's. */
function purposeOf(subject: AuthorizationSubject): 'sslclient' | 'sslserver' {
  return subject.isServer ? 'sslclient' : 'sslserver';
}
