/**
 * Decision guards: facts from outside the process (a fleet's revoked serials and subjects, an
 * identity provider's signals, whether that feed is still heard) that every decision consults
 * after the chain verifies and before any policy or cache answers.
 *
 * A guard only ever narrows: it can deny, or add `signals` for the policy to read; it cannot allow
 * what verification or the policy denies. Its `generation` changes with every fact it holds, and is
 * part of the trust a decision is made under: a decision still pending when a guard changes is made
 * again (see pending-decisions.ts), exactly as for a CA, CRL or policy change.
 *
 * Hosts (an owned Server, an Attachment, a RequestAuthorizer) expose themselves to guards through
 * `kGuardHost`, so the fleet layer can watch any of them without reaching into their engines.
 */
import type { X509Certificate } from 'node:crypto';
import type { Decision, Trigger } from '../common/types.js';

/** What a guard judges: the peer's identity and when its session began. */
export interface GuardFacts {
  /**
   * The peer's chain, leaf first (empty without a client certificate): the chain verification built,
   * leaf to anchor in order of issuance, then any other certificate the peer presented.
   */
  readonly chain: readonly X509Certificate[];
  /** Verified claims of a bearer token bound to the connection or request. */
  readonly token: Readonly<Record<string, unknown>> | undefined;
  /** When the TLS connection was established (epoch ms): a certificate identity's session start. */
  readonly connectionSince: number;
  readonly tier: 'owned' | 'attached' | 'request';
}

/** A guard's answer: deny with a reason, or admit with signals for the policy (or nothing to add). */
export type GuardVerdict =
  | { readonly deny: string; readonly error?: Error }
  | { readonly deny?: undefined; readonly signals?: Readonly<Record<string, unknown>> };

export interface DecisionGuard {
  /** Changes whenever anything the guard would answer may have changed. */
  readonly generation: number;
  /** Synchronous and cheap: runs inside every decision, before the policy and its cache. */
  judge(facts: GuardFacts, now: number): GuardVerdict;
  /** The index keys of this peer (serials, subject identifiers): a change names the keys it affects. */
  keys(facts: GuardFacts): readonly string[];
}

/** What a guard's owner (a fleet) can ask of a watched Server, Attachment or RequestAuthorizer. */
export interface GuardHost {
  readonly kind: 'server' | 'attachment' | 'requests';
  addGuard(guard: DecisionGuard): void;
  removeGuard(guard: DecisionGuard): void;
  /** Re-decide the live connections indexed under any of `keys` (not a scan of all of them). */
  recheckKeys(keys: Iterable<string>, trigger: Trigger): Promise<Decision[]>;
  /** Flush every decision cache of the host and re-decide every live connection. */
  invalidatePolicy(): Promise<Decision[]>;
  /** CRLs shared by the fleet, applied beside the host's own ones as setCrl() applies them. */
  setSharedCrls(pems: readonly Buffer[]): Promise<Decision[]>;
  /** How many live connections the host tracks (for fleet status). */
  readonly connectionCount: number;
}

export const kGuardHost: unique symbol = Symbol('continuous-tls.guardHost');

/** The host behind a watched target, or undefined for anything else. */
export function guardHostOf(target: unknown): GuardHost | undefined {
  if (target === null || (typeof target !== 'object' && typeof target !== 'function')) return undefined;
  const host = (target as { [kGuardHost]?: GuardHost })[kGuardHost];
  return host !== undefined && typeof host.addGuard === 'function' ? host : undefined;
}

/**
 * The guards of one host, judged together: the first denial wins; signals of several guards merge
 * (a later guard's key overrides an earlier one's).
 */
export class GuardSet {
  #guards: DecisionGuard[] = [];

  get size(): number {
    return this.#guards.length;
  }

  add(guard: DecisionGuard): boolean {
    if (this.#guards.includes(guard)) return false;
    this.#guards = [...this.#guards, guard];
    this.#changes++;
    return true;
  }

  remove(guard: DecisionGuard): boolean {
    if (!this.#guards.includes(guard)) return false;
    this.#guards = this.#guards.filter((g) => g !== guard);
    // The leaving guard's generation stays counted, so the sum never goes back to a past value.
    this.#changes += guard.generation + 1;
    return true;
  }

  /** Guards added or removed: a guard joining or leaving is itself a change of trust. */
  #changes = 0;

  /**
   * Every guard's generation plus how often the set changed. Guards' generations only grow and a
   * removed guard's stays counted, so the sum strictly grows with every change.
   */
  get generation(): number {
    let sum = this.#changes;
    for (const guard of this.#guards) sum += guard.generation;
    return sum;
  }

  judge(facts: GuardFacts, now: number): GuardVerdict {
    if (this.#guards.length === 0) return {};
    let signals: Record<string, unknown> | undefined;
    for (const guard of this.#guards) {
      let verdict: GuardVerdict;
      try {
        verdict = guard.judge(facts, now);
      } catch (error) {
        // A guard that cannot answer denies: it exists to narrow, so failing open is never right.
        return { deny: 'guard-error', error: error as Error };
      }
      if (verdict.deny !== undefined) return verdict;
      if (verdict.signals !== undefined) signals = { ...signals, ...verdict.signals };
    }
    return signals === undefined ? {} : { signals };
  }

  keys(facts: GuardFacts): string[] {
    if (this.#guards.length === 0) return [];
    const keys = new Set<string>();
    for (const guard of this.#guards) {
      try {
        for (const key of guard.keys(facts)) keys.add(key);
      } catch {
        // An unindexed peer is still judged at every decision; only targeted re-checks miss it,
        // and a guard change that cannot name its keys re-checks everything instead.
      }
    }
    return [...keys];
  }
}

/**
 * Whether two verdicts say the same of a peer: the same denial, or admission with equal signals
 * (compared as JSON: signals are small, plain data).
 */
export function sameVerdict(a: GuardVerdict, b: GuardVerdict): boolean {
  if (a.deny !== undefined || b.deny !== undefined) return a.deny === b.deny;
  const x = a.signals;
  const y = b.signals;
  if (x === y) return true;
  if (x === undefined || y === undefined) return false;
  return JSON.stringify(x) === JSON.stringify(y);
}

/**
 * Live connections by index key, for targeted re-checks: a revocation of one serial re-decides
 * the connections presenting it, not every connection of the process.
 */
export class KeyIndex<T> {
  readonly #byKey = new Map<string, Set<T>>();
  readonly #keysOf = new Map<T, readonly string[]>();

  set(item: T, keys: readonly string[]): void {
    const previous = this.#keysOf.get(item);
    if (previous !== undefined && sameKeys(previous, keys)) return;
    this.delete(item);
    if (keys.length === 0) return;
    this.#keysOf.set(item, keys);
    for (const key of keys) {
      let set = this.#byKey.get(key);
      if (set === undefined) this.#byKey.set(key, (set = new Set()));
      set.add(item);
    }
  }

  delete(item: T): void {
    const keys = this.#keysOf.get(item);
    if (keys === undefined) return;
    this.#keysOf.delete(item);
    for (const key of keys) {
      const set = this.#byKey.get(key);
      if (set === undefined) continue;
      set.delete(item);
      if (set.size === 0) this.#byKey.delete(key);
    }
  }

  clear(): void {
    this.#byKey.clear();
    this.#keysOf.clear();
  }

  /** The items indexed under any of `keys`, each once. */
  lookup(keys: Iterable<string>): Set<T> {
    const found = new Set<T>();
    for (const key of keys) {
      const set = this.#byKey.get(key);
      if (set !== undefined) for (const item of set) found.add(item);
    }
    return found;
  }

  get size(): number {
    return this.#keysOf.size;
  }
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
