/**
 * OpenSSL's verdicts on presented chains, reused for a moment: a trust change re-decides every
 * connection at once, and clients of one deployment present the same few chains.
 *
 * Reuse rule: an entry answers only for the exact chain it was made for (the fingerprints of every
 * presented certificate, in order: the same leaf under another intermediate is another question),
 * only under the trust context it was made under, and only while that context is at the trust
 * generation it had then. A CA or CRL change moves the generation, so every entry made before it is
 * dead at once. Entries also die VERIFY_CACHE_MS after they were made, so whatever else the verdict
 * read stays fresh (the remembered intermediates a lone leaf is completed with). The clock checks
 * (each certificate's dates, the built chain's notAfter) are not cached: callers run them every time.
 * The key also names the purpose.
 */
import type { X509Certificate } from 'node:crypto';
import { verifyWithHorizon, type SecureContext } from '../tls/context.js';
import { parsedCertificate } from '../tls/parsed-certificates.js';

/**
 * A chain's verdict; when ok, `notAfter` is when the chain OpenSSL built (CAs included) expires,
 * and `chain` is that chain, leaf first and anchor last, where the verdict comes from a
 * verification the library ran (not OpenSSL's in the handshake).
 */
export interface ChainVerdict {
  ok: boolean;
  code?: string;
  notAfter?: number;
  chain?: readonly X509Certificate[];
}

/** 'sslclient' checks a client's certificate (our side is the server), 'sslserver' a server's. */
type Purpose = 'sslclient' | 'sslserver';

interface Entry extends ChainVerdict {
  at: number;
  trust: SecureContext;
  generation: number;
}

/** How long a verdict is reused, in ms of the engine's clock. */
const VERIFY_CACHE_MS = 1000;
/** Past this many entries the cache starts over: a flood of distinct chains cannot grow it. */
const VERIFY_CACHE_ENTRIES = 10_000;

export class VerifyCache {
  #entries = new Map<string, Entry>();

  /** OpenSSL's verdict on `chain` under `trust` as it is now, reused under the rule above. */
  verify(trust: SecureContext, chain: readonly X509Certificate[], purpose: Purpose, now: number): ChainVerdict {
    // The purpose is part of the question: a client's chain verified as a client's answers nothing
    // about it as a server's.
    let key = purpose;
    for (const certificate of chain) key += certificate.fingerprint256;
    const cached = this.#entries.get(key);
    const fresh = cached !== undefined && now - cached.at < VERIFY_CACHE_MS;
    if (fresh && cached.trust === trust && cached.generation === trust.trustGeneration) return cached;
    const outcome = verifyWithHorizon(trust, chain, purpose);
    const entry: Entry = { ok: outcome.ok, at: now, trust, generation: trust.trustGeneration };
    if (outcome.code !== undefined) entry.code = outcome.code;
    if (outcome.notAfter !== undefined) entry.notAfter = outcome.notAfter;
    if (outcome.chain !== undefined) entry.chain = outcome.chain.filter(Buffer.isBuffer).map(parsedCertificate);
    if (this.#entries.size >= VERIFY_CACHE_ENTRIES) this.#entries.clear();
    this.#entries.set(key, entry);
    return entry;
  }
}
