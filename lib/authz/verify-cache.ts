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
import { availableParallelism } from 'node:os';
import { verifyManyWithHorizon, verifyWithHorizon, type HorizonBatch, type SecureContext } from '../tls/context.js';
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

/** Fewer chains than this to verify are not worth a trip to the thread pool: verify() does them. */
const BATCH_MIN = 8;
/** The most certificates one chain of a batch may have (the addon's own limit). */
const BATCH_MAX_CERTIFICATES = 100;
/** The certificates of one batch, in DER bytes: the addon copies those it has not decoded yet. */
const BATCH_MAX_BYTES = 64 * 1024 * 1024;
/**
 * How long a sweep waits for its batch. The pool is the app's too: behind its file system, DNS or
 * crypto work a batch may not start for seconds, and the sweep's connections must not be held that
 * long. So the sweep gives up on a batch that the pool has not begun to run after BATCH_START_MS,
 * and on any batch after BATCH_WAIT_MS plus BATCH_WAIT_MS_PER_CHAIN a chain, two to three times
 * what verifying its chains on the event loop takes here (0.3-0.6 ms a chain). A batch that runs
 * is not judged by how fast its chains go: the first chain after a new CRL pays for OpenSSL
 * sorting that CRL, tens of ms for a large one. Either way the batch is abandoned and verify()
 * does each chain. The batch is looked at every BATCH_POLL_MS.
 */
const BATCH_START_MS = 50;
const BATCH_WAIT_MS = 50;
const BATCH_WAIT_MS_PER_CHAIN = 1;
const BATCH_POLL_MS = 10;

type HorizonOutcomes = Awaited<HorizonBatch['outcomes']>;

export interface ChainQuestion {
  chain: readonly X509Certificate[];
  purpose: Purpose;
}

export class VerifyCache {
  #entries = new Map<string, Entry>();

  /** OpenSSL's verdict on `chain` under `trust` as it is now, reused under the rule above. */
  verify(trust: SecureContext, chain: readonly X509Certificate[], purpose: Purpose, now: number): ChainVerdict {
    const key = keyOf(chain, purpose);
    const cached = this.#current(key, trust, now);
    if (cached !== undefined) return cached;
    const entry = this.#entry(verifyWithHorizon(trust, chain, purpose), trust, trust.trustGeneration, now);
    if (this.#entries.size >= VERIFY_CACHE_ENTRIES) this.#entries.clear();
    this.#entries.set(key, entry);
    return entry;
  }

  /**
   * Verifies, off the event loop and on several threads, the chains among `questions` that verify()
   * could not answer from the cache now, and keeps their verdicts under the same rule: named by
   * `trust` and the generation it had when the verification started, and made at the moment they
   * came back (`now()`). A trust change sweep calls it first, so each connection's own verify()
   * then finds its verdict here. A change of trust while the chains are out leaves their verdicts
   * dead on arrival, and verify() asks OpenSSL again. A batch holds at most VERIFY_CACHE_ENTRIES
   * chains and BATCH_MAX_BYTES of certificates; verify() does the rest one by one.
   */
  async prefetch(trust: SecureContext, questions: Iterable<ChainQuestion>, now: () => number): Promise<void> {
    const asked = new Map<string, ChainQuestion>();
    const started = now();
    let bytes = 0;
    for (const question of questions) {
      if (asked.size >= VERIFY_CACHE_ENTRIES) break;
      // Longer than any real chain (the addon refuses it in a batch): verify() decides it alone.
      if (question.chain.length > BATCH_MAX_CERTIFICATES) continue;
      const key = keyOf(question.chain, question.purpose);
      if (asked.has(key) || this.#current(key, trust, started) !== undefined) continue;
      for (const certificate of question.chain) bytes += certificate.raw.length;
      if (bytes > BATCH_MAX_BYTES) break;
      asked.set(key, question);
    }
    const threads = batchThreads();
    if (asked.size < BATCH_MIN || threads === 0) return;
    const generation = trust.trustGeneration;
    // Undefined: the process's batches hold every pool thread they may have; verify() does them.
    const batch = verifyManyWithHorizon(trust, [...asked.values()], threads);
    if (batch === undefined) return;
    const outcomes = await withinWait(batch, BATCH_WAIT_MS + BATCH_WAIT_MS_PER_CHAIN * asked.size);
    if (outcomes === undefined) {
      // Not begun to run, or not back in time: stop this batch (and no other), which frees its threads.
      batch.abandon();
      return;
    }
    if (trust.trustGeneration !== generation) return;
    const at = now();
    if (this.#entries.size + asked.size > VERIFY_CACHE_ENTRIES) this.#entries.clear();
    let index = 0;
    for (const key of asked.keys()) {
      const outcome = outcomes[index++];
      if (outcome !== undefined) this.#entries.set(key, this.#entry(outcome, trust, generation, at));
    }
  }

  /** The entry for `key` that may answer now under `trust`, if any. */
  #current(key: string, trust: SecureContext, now: number): Entry | undefined {
    const cached = this.#entries.get(key);
    const fresh = cached !== undefined && now - cached.at < VERIFY_CACHE_MS;
    return fresh && cached.trust === trust && cached.generation === trust.trustGeneration ? cached : undefined;
  }

  #entry(outcome: ReturnType<typeof verifyWithHorizon>, trust: SecureContext, generation: number, at: number): Entry {
    const entry: Entry = { ok: outcome.ok, at, trust, generation };
    if (outcome.code !== undefined) entry.code = outcome.code;
    if (outcome.notAfter !== undefined) entry.notAfter = outcome.notAfter;
    if (outcome.chain !== undefined) entry.chain = outcome.chain.filter(Buffer.isBuffer).map(parsedCertificate);
    return entry;
  }
}

/**
 * The question's key: the purpose is part of it (a client's chain verified as a client's answers
 * nothing about it as a server's), then every presented certificate, in order.
 */
function keyOf(chain: readonly X509Certificate[], purpose: Purpose): string {
  let key: string = purpose;
  for (const certificate of chain) key += certificate.fingerprint256;
  return key;
}

/**
 * `batch`'s outcomes, or undefined when it failed, had not begun to run after BATCH_START_MS, or
 * did not come back within `ms`. Real time, as the pool's threads run in it, whatever clock the
 * engine has.
 */
export function withinWait(batch: HorizonBatch, ms: number): Promise<HorizonOutcomes | undefined> {
  return new Promise((resolve) => {
    const since = performance.now();
    const poll = setInterval(() => {
      const waited = performance.now() - since;
      if ((waited >= BATCH_START_MS && batch.started() === 0) || waited >= ms) {
        clearInterval(poll);
        resolve(undefined);
      }
    }, BATCH_POLL_MS);
    poll.unref();
    batch.outcomes.then(
      (outcomes) => {
        clearInterval(poll);
        resolve(outcomes);
      },
      () => {
        clearInterval(poll);
        resolve(undefined);
      },
    );
  });
}

/**
 * Threads of libuv's pool the process's batches may hold together: one per core, but one of the
 * pool's threads is always left for everything else that runs there (file system, DNS, node's own
 * crypto). 0 with a pool of one thread: no batch then.
 */
function batchThreads(): number {
  return Math.max(0, Math.min(availableParallelism(), POOL_SIZE - 1));
}

/**
 * The size of libuv's pool, read from UV_THREADPOOL_SIZE as libuv reads it when the pool starts
 * (this module loads early enough for that to be the same value): C's atoi, whose leading integer
 * is taken and whose 0 (no digits at all, too) means 1; unset means 4; negative wraps, as libuv
 * keeps it unsigned, to the cap of 1024.
 */
export function libuvPoolSize(value: string | undefined): number {
  if (value === undefined) return 4;
  const parsed = /^[\t\n\v\f\r ]*([+-]?\d+)/.exec(value);
  const n = parsed === null ? 0 : Number(parsed[1]);
  if (n === 0) return 1;
  return n < 0 || n > 1024 ? 1024 : n;
}

const POOL_SIZE = libuvPoolSize(process.env.UV_THREADPOOL_SIZE);
