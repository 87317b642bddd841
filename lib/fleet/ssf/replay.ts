/**
 * The `jti` replay check (RFC 8417 §2.2: a SET's `jti` is unique per issuer). A SET seen before is
 * acknowledged but not applied again. With a fleet the claim is made in the fleet's shared store,
 * so a SET pushed to several processes is applied once fleet-wide; without one, in memory.
 */
import { createHash } from 'node:crypto';
import type { Fleet } from '../types.js';

export interface ReplayStore {
  /** True the first time (issuer, jti) is claimed within `ttlMs`; false for a replay. */
  claim(issuer: string, jti: string, ttlMs: number): Promise<boolean>;
  /** Forgets a claim whose SET could not be applied, so a retry is applied (where the store can forget). */
  release(issuer: string, jti: string): void;
}

/** Length-prefixed so that no issuer and jti pair spells another pair's key. */
export function replayKey(issuer: string, jti: string): string {
  return `${issuer.length}:${issuer}|${jti}`;
}

/**
 * Bounded: past `maxEntries`, expired claims go first, then the oldest. A jti evicted early could be
 * applied twice; the events it carries (revocations, signals) are idempotent, so that costs a
 * repeated re-decision, never a missed one.
 */
export class MemoryReplayStore implements ReplayStore {
  readonly #seen = new Map<string, number>();
  readonly #maxEntries: number;

  constructor(maxEntries = 100_000) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#seen.size;
  }

  claim(issuer: string, jti: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const key = replayKey(issuer, jti);
    const until = this.#seen.get(key);
    if (until !== undefined && until > now) return Promise.resolve(false);
    this.#seen.delete(key);
    if (this.#seen.size >= this.#maxEntries) this.#evict(now);
    this.#seen.set(key, now + ttlMs);
    return Promise.resolve(true);
  }

  release(issuer: string, jti: string): void {
    this.#seen.delete(replayKey(issuer, jti));
  }

  #evict(now: number): void {
    // Insertion order is expiry order (one ttl per receiver): expired entries are at the front.
    for (const [key, until] of this.#seen) {
      if (until > now && this.#seen.size < this.#maxEntries) break;
      this.#seen.delete(key);
    }
  }
}

/** The fleet's claimOnce: one claim across every process that shares the fleet. */
export class FleetReplayStore implements ReplayStore {
  readonly #fleet: Fleet;
  /** Claims this process made but could not apply: a retry sent here is applied. */
  readonly #released = new Set<string>();

  constructor(fleet: Fleet) {
    this.#fleet = fleet;
  }

  claim(issuer: string, jti: string, ttlMs: number): Promise<boolean> {
    const key = replayKey(issuer, jti);
    if (this.#released.delete(key)) return Promise.resolve(true);
    // A digest: one short key in the shared store whatever the lengths of the issuer and the jti.
    return this.#fleet.claimOnce('ssf-jti', createHash('sha256').update(key).digest('base64url'), ttlMs);
  }

  release(issuer: string, jti: string): void {
    if (this.#released.size >= MAX_RELEASED) this.#released.delete(this.#released.values().next().value as string);
    this.#released.add(replayKey(issuer, jti));
  }
}

const MAX_RELEASED = 10_000;
