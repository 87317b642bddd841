/**
 * A decision cache: bounded LRU with a TTL per entry. A hit is one string concatenation and one Map
 * lookup, and it returns an answer object built when the entry was stored, so it allocates nothing.
 *
 * Default key: `<certificate fingerprint256>|<token sub@iat-exp#jti>|<action>|<resource>`, each part
 * empty when absent, action and resource as in facts.ts (action falls back to the HTTP method, then
 * to the trigger). Both identities are in the key, so another token over the same client certificate
 * never hits an entry made for the first. The default key does NOT contain `input.context`: a policy
 * that reads risk signals needs a `key` function that includes them (or no cache), or it would be
 * answered from stale facts.
 *
 * Expiry of an entry: the earliest of the decision's own expiresAt, the certificate's notAfter, the
 * token's `exp`, and now + ttlMs (allow) or denyTtlMs (deny, shorter by default, so a fixed problem is
 * soon noticed). Failures are never stored: a policy error is thrown through, not cached.
 */
import type { AuthorizationInput, Policy, PolicyAdapter } from '../types.js';
import { invalidOption } from '../errors.js';
import { actionName, notAfter, resourceId } from './facts.js';
import { isPolicy, kFastPath, policyName, runPolicy, type NormalizedDecision, type SourcedDecisionLike } from './evaluate.js';

export interface DecisionCacheOptions {
  /** Most entries kept; the least recently used goes first. Default 10 000. */
  max?: number;
  /** TTL of an allow whose decision carries none shorter. Default 60 s. */
  ttlMs?: number;
  /** TTL of a denial. Default 5 s. */
  denyTtlMs?: number;
  /** Cache key of an input; return undefined to not cache that input. Default: defaultCacheKey. */
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
}

/** A stored decision, as a hit answers it. Frozen: every hit shares it. */
export type CachedAnswer = Readonly<SourcedDecisionLike & { allow: boolean; reason: string; expiresAt: number; source: 'cache' }>;

interface Entry {
  readonly answer: CachedAnswer;
  /** Hit since it was stored or last given a second chance. */
  used: boolean;
}

export function defaultCacheKey(input: AuthorizationInput): string {
  // fingerprint256 is computed once per X509Certificate object and memoized by node.
  const fp = input.peer.certificate?.fingerprint256 ?? '';
  return `${fp}|${tokenKey(input.token)}|${actionName(input)}|${resourceId(input)}`;
}

/**
 * One token's identity: sub, iat, exp and jti. Claims never change within a token, so keying on
 * the token (not just its subject) keeps a decision that read `scope` or `acr` from being reused
 * for another token of the same user; a refreshed token simply misses once.
 */
function tokenKey(token: Record<string, unknown> | undefined): string {
  if (token === undefined) return '';
  return `${str(token['sub'])}@${str(token['iat'])}-${str(token['exp'])}#${str(token['jti'])}`;
}

function str(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
}

export class DecisionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;
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
    if (options === null || typeof options !== 'object') throw invalidOption('options', 'an object', options);
    const { max = 10_000, ttlMs = 60_000, denyTtlMs = 5_000, key = defaultCacheKey, now = Date.now } = options;
    if (!Number.isInteger(max) || max < 1) throw invalidOption('max', 'a positive integer', max);
    if (typeof ttlMs !== 'number' || !(ttlMs >= 0)) throw invalidOption('ttlMs', 'a number >= 0', ttlMs);
    if (typeof denyTtlMs !== 'number' || !(denyTtlMs >= 0)) throw invalidOption('denyTtlMs', 'a number >= 0', denyTtlMs);
    if (typeof key !== 'function') throw invalidOption('key', 'a function', key);
    if (typeof now !== 'function') throw invalidOption('now', 'a function', now);
    this.#max = max;
    this.#ttlMs = ttlMs;
    this.#denyTtlMs = denyTtlMs;
    this.key = key;
    this.now = now;
  }

  /** Bumped by every flush; a result computed under an older generation is not stored. */
  get generation(): number {
    return this.#generation;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): CachedAnswer | undefined {
    return this.#lookup(key, true);
  }

  /** Like get() but a miss is not counted (the caller will get() again). */
  peek(key: string): CachedAnswer | undefined {
    return this.#lookup(key, false);
  }

  #lookup(key: string, countMiss: boolean): CachedAnswer | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      if (countMiss) this.#misses++;
      return undefined;
    }
    if (entry.answer.expiresAt <= this.now()) {
      this.#entries.delete(key);
      this.#expirations++;
      if (countMiss) this.#misses++;
      return undefined;
    }
    // Second-chance LRU: a hit only sets a flag; eviction moves flagged entries to the back. That
    // keeps the hit to one Map lookup instead of a delete and a re-insert.
    entry.used = true;
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
    this.#entries.delete(key);
    this.#entries.set(key, { answer: Object.freeze(answer) as CachedAnswer, used: false });
    if (this.#entries.size > this.#max) this.#evictOne();
  }

  #evictOne(): void {
    // Map iteration is insertion order: the front holds the entries used least recently. A used one
    // gets a second chance at the back; each pass clears flags, so this ends within size steps.
    for (const [key, entry] of this.#entries) {
      this.#entries.delete(key);
      if (entry.used && entry.answer.expiresAt > this.now()) {
        entry.used = false;
        this.#entries.set(key, entry);
        continue;
      }
      this.#evictions++;
      return;
    }
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
  /** A hit, or undefined (see kFastPath in evaluate.ts). */
  [kFastPath](input: AuthorizationInput): CachedAnswer | undefined;
}

/**
 * Wraps a policy with a cache. Hits answer `source: 'cache'` without calling the policy; misses ask
 * it and store the answer. The cache is flushed whenever the policy reports a change (its onChange),
 * before any listener of the wrapper hears of it, so a re-decision after a policy change never reads
 * a stale entry; and an answer that was computed before a flush is not stored after it.
 */
export function cached(policy: Policy, cache: DecisionCache = new DecisionCache()): CachedPolicy {
  if (!isPolicy(policy)) throw invalidOption('policy', 'a policy function or adapter', policy);
  if (!(cache instanceof DecisionCache)) throw invalidOption('cache', 'a DecisionCache', cache);
  if (cache.owner !== undefined && cache.owner !== policy) {
    throw invalidOption('cache', 'a DecisionCache not already used for another policy (its keys do not name the policy)');
  }
  cache.owner = policy;
  const inner = typeof policy === 'function' ? undefined : policy;
  const unsubscribe = inner?.onChange?.(() => cache.flush());

  async function miss(key: string, input: AuthorizationInput, signal: AbortSignal): Promise<SourcedDecisionLike> {
    const generation = cache.generation;
    const d = await runPolicy(policy, input, signal, cache.now);
    if (cache.generation === generation) cache.set(key, d, input);
    return d;
  }

  return {
    name: `cached(${policyName(policy)})`,
    cache,
    evaluate(input, signal) {
      const key = cache.key(input);
      // Only a miss needs a signal; creating an AbortController would cost more than the whole hit.
      if (key === undefined) return runPolicy(policy, input, signal ?? new AbortController().signal, cache.now);
      return cache.get(key) ?? miss(key, input, signal ?? new AbortController().signal);
    },
    // evaluatePolicy answers hits through this without building an AbortController.
    [kFastPath](input: AuthorizationInput) {
      const key = cache.key(input);
      return key === undefined ? undefined : cache.peek(key);
    },
    ...(inner?.onChange && {
      onChange(listener: () => void) {
        return inner.onChange!(() => {
          cache.flush();
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
