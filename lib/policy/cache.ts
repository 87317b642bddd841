/**
 * A decision cache: bounded LRU with a TTL per entry, bounded in entries and in bytes. A hit is one
 * key build and one Map lookup, and it returns an answer object built when the entry was stored.
 *
 * Soundness: a cached decision may answer only an input on which the policy must answer the same.
 * So the default key names everything the policy can read:
 *
 * - always the identity and the request: the leaf's SHA-256 fingerprint, whether the chain verified
 *   (and why not), a hash of the token's whole claim set (issuer, subject, audience, scopes …),
 *   the action and the resource;
 * - then the facts the policy declares with `factsRead()` (dotted paths into the input, e.g.
 *   `connection.remoteAddress`, `request.headers.host`, `context.risk`; a `context.<name>` path also
 *   covers the library fact contextFacts() puts under that name);
 * - or, when the policy declares nothing (a plain function, an adapter that cannot tell), the whole
 *   input: connection facts down to its age, every header, the app context. Such a key rarely
 *   repeats; a policy that wants hits declares its facts, or the cache is given a `key`.
 *
 * Keys longer than 512 characters are replaced by their SHA-256, so a hostile path or header cannot
 * make an entry large. Every entry also names the trust it was made under: the cache's generation
 * (bumped by every flush: policy change, trust change) and its clock horizon, the earliest of the
 * decision's expiresAt, the certificate's notAfter, the token's `exp` and now + ttlMs (allow) or
 * denyTtlMs (deny). Failures are never stored: a policy error is thrown through, not cached.
 */
import type { AuthorizationInput, Policy, PolicyAdapter } from '../common/types.js';
import { invalidOption } from '../common/errors.js';
import { checkCount, checkDuration, checkFunction, checkObject } from '../common/validate.js';
import { createHash, X509Certificate } from 'node:crypto';
import { actionName, CONTEXT_FACT_SOURCES, notAfter, resourceId } from './facts.js';
import { isPolicy, kFastPath, policyName, runPolicy, type NormalizedDecision, type SourcedDecisionLike } from './evaluate.js';

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
   * policy reads. Default: defaultCacheKey with the facts the policy declares.
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
export type CachedAnswer = Readonly<SourcedDecisionLike & { allow: boolean; reason: string; expiresAt: number; source: 'cache' }>;

interface Entry {
  readonly answer: CachedAnswer;
  /** The cache generation (trust and policy) it was made under. */
  readonly generation: number;
  readonly bytes: number;
  /** Hit since it was stored or last given a second chance. */
  used: boolean;
}

/** Keys longer than this are hashed: the cache holds a bounded key whatever the request sent. */
const MAX_KEY_CHARS = 512;
/** Per-entry overhead beyond its strings (Map slot, entry and answer objects), estimated. */
const ENTRY_OVERHEAD_BYTES = 200;
const INPUT_ROOTS = new Set(['trigger', 'peer', 'connection', 'request', 'token', 'context', 'action', 'resource']);

/** The facts a policy declares it reads (`factsRead()`, on an adapter or a function), or null: unknown. */
export function factsReadBy(policy: Policy): readonly string[] | null {
  const declared = (policy as { factsRead?: unknown }).factsRead;
  let facts: unknown;
  try {
    facts = typeof declared === 'function' ? (declared as () => unknown).call(policy) : declared;
  } catch {
    return null;
  }
  if (!Array.isArray(facts) || !facts.every((f) => typeof f === 'string' && f !== '')) return null;
  // A path the key cannot resolve in the input would silently key on nothing: treat as unknown.
  for (const f of facts as string[]) {
    const root = f.split('.')[0]!;
    if (!INPUT_ROOTS.has(root)) return null;
  }
  return Object.freeze([...new Set(facts as string[])].sort());
}

/**
 * The key of `input` for a policy that reads `facts` (null: anything). See the module comment.
 */
export function defaultCacheKey(input: AuthorizationInput, facts: readonly string[] | null = null): string {
  // fingerprint256 is computed once per X509Certificate object and memoized by node.
  const fp = input.peer.certificate?.fingerprint256 ?? '';
  const verify = input.peer.verified ? 'v' : `u:${input.peer.verifyError ?? ''}`;
  // Free-form parts are length-prefixed (enc), so no two different inputs spell the same key.
  let key = `${fp}|${verify}|${tokenKey(input.token)}|${enc(actionName(input))}${enc(resourceId(input))}`;
  if (facts === null) key += `*${enc(wholeInput(input))}`;
  else for (const fact of facts) key += factValue(input, fact);
  return key.length > MAX_KEY_CHARS ? `#${createHash('sha256').update(key).digest('base64url')}` : key;
}

/** A token's claims never change, so its key is computed once per claims object. */
const tokenKeys = new WeakMap<object, string>();

/**
 * The whole claim set, hashed: issuer, subject, audience, scopes, times, everything a policy may
 * read. Two issuers' tokens with one `sub`, or two client-credentials tokens without one, differ.
 */
function tokenKey(token: Record<string, unknown> | undefined): string {
  if (token === undefined) return '';
  let key = tokenKeys.get(token);
  if (key === undefined) {
    key = createHash('sha256').update(enc(token)).digest('base64url');
    tokenKeys.set(token, key);
  }
  return key;
}

/** A declared fact as the paths to walk: its own, and for `context.<library fact>` the input's. */
interface FactPaths {
  path: string[];
  source?: string[];
}
const factPaths = new Map<string, FactPaths>();

function pathsOf(fact: string): FactPaths {
  let paths = factPaths.get(fact);
  if (paths === undefined) {
    const path = fact.split('.');
    paths = { path };
    const source = path[0] === 'context' && path.length > 1 ? CONTEXT_FACT_SOURCES[path[1]!] : undefined;
    if (source !== undefined) paths.source = [...source.split('.'), ...path.slice(2)];
    // Fact names come from loaded policies, a small set; bound the memo anyway.
    if (factPaths.size >= 4096) factPaths.clear();
    factPaths.set(fact, paths);
  }
  return paths;
}

/** The value at a dotted input path; `context.<library fact>` also takes the input it comes from. */
function factValue(input: AuthorizationInput, fact: string): string {
  const { path, source } = pathsOf(fact);
  const value = enc(walk(input, path));
  return source === undefined ? value : `${value}${enc(walk(input, source))}`;
}

function walk(root: unknown, path: readonly string[]): unknown {
  let at: unknown = root;
  for (let i = 0; i < path.length; i++) {
    // A certificate stands for all its facts: key on the whole of it.
    if (at instanceof X509Certificate || at === null || typeof at !== 'object') return at;
    // Header names are lowercase in node (RFC 9110 §5.1: case-insensitive).
    const name = i > 0 && path[i - 1] === 'headers' ? path[i]!.toLowerCase() : path[i]!;
    at = Object.prototype.hasOwnProperty.call(at, name) ? (at as Record<string, unknown>)[name] : undefined;
  }
  return at;
}

function wholeInput(input: AuthorizationInput): unknown {
  return [input.trigger, input.peer, input.connection, input.request, input.context, input.action, input.resource];
}

/** Deeper values than this are not keyed: the key throws, and the policy call fails closed. */
const MAX_KEY_DEPTH = 32;

/**
 * An unambiguous encoding of a value: every string is length-prefixed, every kind tagged, a
 * certificate is its fingerprint (X509Certificate#toJSON would give the whole PEM), undefined and
 * null differ. Object keys keep their order: a different order only costs a miss.
 */
function enc(value: unknown, depth = 0): string {
  switch (typeof value) {
    case 'string': return `s${value.length}:${value}`;
    case 'number': return `n${value};`;
    case 'boolean': return value ? 'T' : 'F';
    case 'undefined': return 'U';
    case 'bigint': return `b${value};`;
    case 'object': break;
    default: return `?${typeof value};`;
  }
  if (value === null) return 'N';
  if (value instanceof X509Certificate) return `c${value.fingerprint256};`;
  if (depth >= MAX_KEY_DEPTH) throw new RangeError('the input is nested too deeply to key a cached decision');
  if (Array.isArray(value)) {
    let out = '[';
    for (const item of value) out += enc(item, depth + 1);
    return `${out}]`;
  }
  let out = '{';
  for (const k of Object.keys(value)) out += `${enc(k)}${enc((value as Record<string, unknown>)[k], depth + 1)}`;
  return `${out}}`;
}

function entryBytes(key: string, answer: SourcedDecisionLike): number {
  let bytes = ENTRY_OVERHEAD_BYTES + 2 * key.length + 2 * (answer.reason?.length ?? 0);
  if (answer.obligations !== undefined) bytes += 2 * enc(answer.obligations).length;
  return bytes;
}

export class DecisionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;
  readonly #maxBytes: number;
  #bytes = 0;
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
    this.key = checkFunction<NonNullable<DecisionCacheOptions['key']>>('key', o.key) ?? ((input) => defaultCacheKey(input, this.#facts));
    this.now = checkFunction<() => number>('now', o.now) ?? Date.now;
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
    if (entry.answer.expiresAt <= this.now() || entry.generation !== this.#generation) {
      this.#remove(key, entry);
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
    const bytes = entryBytes(key, answer);
    if (bytes > this.#maxBytes / 4) return;
    const previous = this.#entries.get(key);
    if (previous !== undefined) this.#remove(key, previous);
    this.#entries.set(key, { answer: Object.freeze(answer) as CachedAnswer, generation: this.#generation, bytes, used: false });
    this.#bytes += bytes;
    while (this.#entries.size > this.#max || this.#bytes > this.#maxBytes) this.#evictOne();
  }

  #remove(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
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
      this.#bytes -= entry.bytes;
      this.#evictions++;
      return;
    }
  }

  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#remove(key, entry);
    return true;
  }

  /** Drops every entry; call it when the policy or the trust store changed. */
  flush(): void {
    this.#entries.clear();
    this.#bytes = 0;
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
      bytes: this.#bytes,
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
  cache.facts = factsReadBy(policy);
  const inner = typeof policy === 'function' ? undefined : policy;
  // A reloaded policy may read other facts: the key follows before anything is looked up again.
  const changed = (): void => {
    cache.facts = factsReadBy(policy);
    cache.flush();
  };
  const unsubscribe = inner?.onChange?.(changed);

  async function miss(key: string, input: AuthorizationInput, signal: AbortSignal): Promise<SourcedDecisionLike> {
    const generation = cache.generation;
    const d = await runPolicy(policy, input, signal, cache.now);
    if (cache.generation === generation) cache.set(key, d, input);
    return d;
  }

  return {
    name: `cached(${policyName(policy)})`,
    cache,
    factsRead: () => cache.facts,
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
