/**
 * A decision cache: bounded LRU with a TTL per entry, bounded in entries and in bytes. A hit is one
 * key build and one Map lookup, and it returns an answer object built when the entry was stored.
 * What the key covers, and why that is sound, is in cache-key.ts.
 *
 * Every entry also names the trust it was made under: the cache's generation (bumped by every
 * flush: policy change, trust change) and its clock horizon, the earliest of the decision's
 * expiresAt, the certificate's notAfter, the token's `exp` and now + ttlMs (allow) or denyTtlMs
 * (deny). Failures are never stored: a policy error is thrown through, not cached.
 */
import { LRUCache } from 'lru-cache';
import type { AuthorizationInput, Policy, PolicyAdapter } from '../common/types.js';
import { invalidOption } from '../common/errors.js';
import { checkCount, checkDuration, checkFunction, checkObject } from '../common/validate.js';
import { notAfter } from './facts.js';
import { encodeValue, factsReadBy, processCacheKey, Uncacheable } from './cache-key.js';
import {
  isPolicy,
  evaluatesLazily,
  policyName,
  runPolicy,
  type LazySignal,
  type NormalizedDecision,
  type SourcedDecisionLike,
} from './evaluate.js';

export interface DecisionCacheOptions {
  /** Most entries kept; the least recently used goes first. Default 10 000. */
  max?: number;
  /** Most bytes (keys, reasons, obligations, estimated) kept. Default 16 MiB. */
  maxBytes?: number;
  /** TTL of an allow whose decision carries none shorter. Default 60 s. */
  ttlMs?: number;
  /** TTL of a denial. Default 5 s. */
  denyTtlMs?: number;
  /**
   * Cache key of an input; return undefined to not cache that input. It must name every fact the
   * policy reads. Default: the facts defaultCacheKey names for what the policy declares, each
   * certificate spelled as an id local to this process (`cache.key(input)` gives it).
   */
  key?: (input: AuthorizationInput) => string | undefined;
  /** Clock, epoch ms. Default Date.now. */
  now?: () => number;
}

export interface DecisionCacheStats {
  hits: number;
  misses: number;
  /** Entries dropped to stay within `max`. */
  evictions: number;
  /** Entries found past their expiry. */
  expirations: number;
  /** Times the whole cache was flushed (policy or trust change). */
  flushes: number;
  size: number;
  max: number;
  /** Estimated bytes held, and the bound. */
  bytes: number;
  maxBytes: number;
}

/** A stored decision, as a hit answers it. Frozen: every hit shares it. */
export type CachedAnswer = Readonly<
  SourcedDecisionLike & { allow: boolean; reason: string; expiresAt: number; source: 'cache' }
>;

interface Entry {
  readonly answer: CachedAnswer;
  /** The cache generation (trust and policy) it was made under. */
  readonly generation: number;
  readonly bytes: number;
}

/** Per-entry overhead beyond its strings (Map slot, entry and answer objects), estimated. */
const ENTRY_OVERHEAD_BYTES = 200;

function entryBytes(key: string, answer: SourcedDecisionLike): number {
  let bytes = ENTRY_OVERHEAD_BYTES + 2 * key.length + 2 * (answer.reason?.length ?? 0);
  if (answer.obligations !== undefined) {
    try {
      bytes += 2 * encodeValue(answer.obligations).length;
    } catch (err) {
      // Obligations whose size cannot be told are not kept.
      if (err instanceof Uncacheable) return Infinity;
      throw err;
    }
  }
  return bytes;
}

export class DecisionCache {
  /**
   * Recency order and the bounds (entries and estimated bytes) are lru-cache's. Expiry is checked
   * here against the decision's own `expiresAt` and this cache's clock (`now`, which tests inject),
   * not by lru-cache's TTL, so an entry never outlives what it was decided under.
   */
  readonly #entries: LRUCache<string, Entry>;
  readonly #max: number;
  readonly #maxBytes: number;
  #facts: readonly string[] | null = null;
  readonly #ttlMs: number;
  readonly #denyTtlMs: number;
  /** The cache's clock (epoch ms), also used to turn a miss's ttlMs into an expiry. */
  readonly now: () => number;
  readonly key: (input: AuthorizationInput) => string | undefined;
  #generation = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;
  #expirations = 0;
  #flushes = 0;
  /** The policy this cache answers for: keys do not name the policy, so one cache serves one policy. */
  owner: Policy | undefined;

  constructor(options: DecisionCacheOptions = {}) {
    const o = checkObject('options', options) ?? {};
    // A TTL of 0 stores nothing of that kind; Infinity leaves the decision's own expiry.
    const ttl = { zero: true, infinite: true };
    this.#max = checkCount('max', o.max, 10_000);
    this.#maxBytes = checkCount('maxBytes', o.maxBytes, 16 * 1024 * 1024, { min: 1024 });
    this.#ttlMs = checkDuration('ttlMs', o.ttlMs, 60_000, ttl);
    this.#denyTtlMs = checkDuration('denyTtlMs', o.denyTtlMs, 5_000, ttl);
    this.key =
      checkFunction<NonNullable<DecisionCacheOptions['key']>>('key', o.key) ??
      ((input) => processCacheKey(input, this.#facts));
    this.now = checkFunction<() => number>('now', o.now) ?? Date.now;
    this.#entries = new LRUCache<string, Entry>({
      max: this.#max,
      maxSize: this.#maxBytes,
      sizeCalculation: (entry) => entry.bytes,
      dispose: (_entry, _key, reason) => {
        if (reason === 'evict') this.#evictions++;
      },
    });
  }

  /** The facts the default key covers (set by cached() from the policy's factsRead(); null: all). */
  get facts(): readonly string[] | null {
    return this.#facts;
  }

  set facts(facts: readonly string[] | null) {
    this.#facts = facts;
  }

  /** Bumped by every flush; a result computed under an older generation is not stored. */
  get generation(): number {
    return this.#generation;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): CachedAnswer | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    if (entry.answer.expiresAt <= this.now() || entry.generation !== this.#generation) {
      this.#entries.delete(key);
      this.#expirations++;
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    return entry.answer;
  }

  /** Stores a decision about `input` (whose certificate and token bound the expiry). */
  set(key: string, decision: NormalizedDecision, input?: AuthorizationInput): void {
    const now = this.now();
    let expiresAt = Math.min(decision.expiresAt, now + (decision.allow ? this.#ttlMs : this.#denyTtlMs));
    if (input !== undefined) expiresAt = Math.min(expiresAt, credentialsExpiry(input));
    if (!(expiresAt > now)) return;
    const answer: SourcedDecisionLike = { allow: decision.allow, reason: decision.reason, expiresAt, source: 'cache' };
    if (decision.obligations !== undefined) answer.obligations = decision.obligations;
    const bytes = entryBytes(key, answer);
    if (bytes > this.#maxBytes / 4) return;
    this.#entries.set(key, { answer: Object.freeze(answer) as CachedAnswer, generation: this.#generation, bytes });
  }

  delete(key: string): boolean {
    return this.#entries.delete(key);
  }

  /** Drops every entry; call it when the policy or the trust store changed. */
  flush(): void {
    this.#entries.clear();
    this.#generation++;
    this.#flushes++;
  }

  stats(): DecisionCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      expirations: this.#expirations,
      flushes: this.#flushes,
      size: this.#entries.size,
      max: this.#max,
      bytes: this.#entries.calculatedSize,
      maxBytes: this.#maxBytes,
    };
  }
}

/** Epoch ms when the input's credentials lapse: certificate notAfter, token exp (seconds). */
function credentialsExpiry(input: AuthorizationInput): number {
  let at = Infinity;
  const cert = input.peer.certificate;
  if (cert !== undefined) {
    const t = notAfter(cert);
    if (t < at) at = t;
  }
  const exp = input.token?.['exp'];
  if (typeof exp === 'number' && exp * 1000 < at) at = exp * 1000;
  return at;
}

export interface CachedPolicy extends PolicyAdapter {
  readonly cache: DecisionCache;
  /** The wrapped policy's declared facts (the key covers them). */
  factsRead(): readonly string[] | null;
}

/** A reloaded policy may read other facts: the key follows before anything is looked up again. */
function policyChanged(cache: DecisionCache, policy: Policy): void {
  cache.facts = factsReadBy(policy);
  cache.flush();
}

/** Unsubscribes the policy listener of a cache that was collected. */
const collectedCaches = new FinalizationRegistry<() => void>((unsubscribe) => unsubscribe());

/**
 * Subscribes `cache` to the policy's changes through a WeakRef. Declared apart from cached() so
 * that the listener's closure holds no strong reference to the cache (a closure keeps every
 * variable of its scope that any sibling closure uses). The listener unsubscribes itself when it
 * finds the cache gone, and the FinalizationRegistry does it for a policy that never changes again.
 * The returned function unsubscribes now.
 */
function subscribeWeakly(inner: PolicyAdapter, policy: Policy, cache: DecisionCache): () => void {
  const ref = new WeakRef(cache);
  const token = {};
  let subscribed = true;
  const listener = (): void => {
    const live = ref.deref();
    if (live === undefined) unsubscribe();
    else policyChanged(live, policy);
  };
  const result = inner.onChange!(listener);
  const unsubscribeInner = typeof result === 'function' ? result : undefined;
  const unsubscribe = (): void => {
    if (!subscribed) return;
    subscribed = false;
    collectedCaches.unregister(token);
    unsubscribeInner?.();
  };
  collectedCaches.register(cache, unsubscribe, token);
  return unsubscribe;
}

/**
 * Wraps a policy with a cache. Hits answer `source: 'cache'` without calling the policy; misses ask
 * it and store the answer. The cache is flushed whenever the policy reports a change (its onChange),
 * before any listener of the wrapper hears of it, so a re-decision after a policy change never reads
 * a stale entry; and an answer that was computed before a flush is not stored after it. The policy
 * holds the cache only weakly (subscribeWeakly), so a wrapper that is dropped unclosed is collected
 * with its cache; close() unsubscribes at once.
 */
const newSignal: LazySignal = () => new AbortController().signal;

export function cached(policy: Policy, cache: DecisionCache = new DecisionCache()): CachedPolicy {
  if (!isPolicy(policy)) throw invalidOption('policy', 'a policy function or adapter', policy);
  if (!(cache instanceof DecisionCache)) throw invalidOption('cache', 'a DecisionCache', cache);
  if (cache.owner !== undefined && cache.owner !== policy) {
    throw invalidOption(
      'cache',
      'a DecisionCache not already used for another policy (its keys do not name the policy)',
    );
  }
  cache.owner = policy;
  cache.facts = factsReadBy(policy);
  const inner = typeof policy === 'function' ? undefined : policy;
  const changed = (): void => policyChanged(cache, policy);
  // The policy holds the cache only weakly: a wrapper (or a RequestAuthorizer) that is dropped takes
  // its cache with it, and its subscription goes when the cache is collected. A live wrapper holds
  // the cache, so its cache is flushed on every change.
  const unsubscribe = inner?.onChange ? subscribeWeakly(inner, policy, cache) : undefined;

  async function miss(key: string, input: AuthorizationInput, signal: AbortSignal): Promise<SourcedDecisionLike> {
    const generation = cache.generation;
    const d = await runPolicy(policy, input, signal, cache.now);
    if (cache.generation === generation) cache.set(key, d, input);
    return d;
  }

  // Only a miss needs a signal: a hit answers without one, as an AbortController would cost more
  // than the whole hit.
  function decide(input: AuthorizationInput, signal: LazySignal): CachedAnswer | Promise<SourcedDecisionLike> {
    const key = cache.key(input);
    if (key === undefined) return runPolicy(policy, input, signal(), cache.now);
    return cache.get(key) ?? miss(key, input, signal());
  }

  const evaluate = (input: AuthorizationInput, signal?: AbortSignal) =>
    decide(input, signal === undefined ? newSignal : () => signal);
  // evaluatePolicy calls decide() for this evaluate, so a hit builds no AbortController.
  evaluatesLazily(evaluate, decide);

  return {
    name: `cached(${policyName(policy)})`,
    cache,
    factsRead: () => cache.facts,
    evaluate,
    ...(inner?.onChange && {
      onChange(listener: () => void) {
        return inner.onChange!(() => {
          changed();
          listener();
        });
      },
    }),
    async close() {
      unsubscribe?.();
      await inner?.close?.();
    },
  };
}
