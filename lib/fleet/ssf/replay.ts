/**
 * The `jti` replay check (RFC 8417 §2.2: a SET's `jti` is unique per issuer). A SET seen before is
 * acknowledged but not applied again. With a fleet the claim is made in the fleet's shared store,
 * so a SET pushed to several processes is applied once fleet-wide; without one, in memory.
 */
import { createHash } from 'node:crypto';
import type { Fleet } from '../types.js';

export interface ReplayStore {
  /** Before applying: true the first time (issuer, jti) is claimed within `ttlMs`; false for a replay. */
  claim(issuer: string, jti: string, ttlMs: number): Promise<boolean>;
  /** Forgets a claim whose SET could not be applied, so a retry is applied. */
  release(issuer: string, jti: string): void;
  /** After applying: false when the SET had been applied before elsewhere (it is then a duplicate). */
  settle(issuer: string, jti: string, ttlMs: number): Promise<boolean>;
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

  settle(): Promise<boolean> {
    return Promise.resolve(true);
  }

  #evict(now: number): void {
    // Insertion order is expiry order (one ttl per receiver): expired entries are at the front.
    for (const [key, until] of this.#seen) {
      if (until > now && this.#seen.size < this.#maxEntries) break;
      this.#seen.delete(key);
    }
  }
}

/**
 * With a fleet. A claim in the fleet's store cannot be taken back (claimOnce has no release), so the
 * lasting claim is made only after the SET was applied: claimed first, a SET whose apply failed would
 * meet its own claim when the transmitter retries it, in any process or after a restart, and be
 * acknowledged as a duplicate and never applied, losing a revocation.
 *
 * Before applying, the fleet is asked whether that lasting claim exists. A SET applied through another
 * process must not be applied again here: signals are not idempotent across a replay, since two of
 * one second tie and the later applied wins, so a replayed older one would replace its successor.
 * claimOnce is the only question the fleet answers, so the check is a claim that lives PROBE_MS: it
 * fails when the lasting claim is there, and leaves nothing that outlives the check. Another process's
 * check can make a claim fail for that moment, so a failed claim is asked once more after it expired
 * before it counts: a SET being applied elsewhere (not yet settled) is then applied here too, as any
 * SET sent to two processes at once may be, and a failed apply there is never taken for an applied one.
 */
export class FleetReplayStore implements ReplayStore {
  readonly #fleet: Fleet;
  readonly #local: MemoryReplayStore;

  constructor(fleet: Fleet, maxEntries?: number) {
    this.#fleet = fleet;
    this.#local = new MemoryReplayStore(maxEntries);
  }

  async claim(issuer: string, jti: string, ttlMs: number): Promise<boolean> {
    if (!(await this.#local.claim(issuer, jti, ttlMs))) return false;
    try {
      if (!(await this.#claimFleetWide(issuer, jti, PROBE_MS))) return false;
    } catch (err) {
      // The fleet cannot say: not remembered here either, so the transmitter's retry is applied.
      this.#local.release(issuer, jti);
      throw err;
    }
    return true;
  }

  release(issuer: string, jti: string): void {
    this.#local.release(issuer, jti);
  }

  async settle(issuer: string, jti: string, ttlMs: number): Promise<boolean> {
    try {
      return await this.#claimFleetWide(issuer, jti, ttlMs);
    } catch {
      // Applied already; the claim only names who was first, and a retry elsewhere is applied again.
      return true;
    }
  }

  /** claimOnce in the 'ssf-jti' namespace; a failure is confirmed once a check's claim has expired. */
  async #claimFleetWide(issuer: string, jti: string, ttlMs: number): Promise<boolean> {
    // A digest: one short key in the shared store whatever the lengths of the issuer and the jti.
    const id = createHash('sha256').update(replayKey(issuer, jti)).digest('base64url');
    if (await this.#fleet.claimOnce(NAMESPACE, id, ttlMs)) return true;
    await new Promise((resolve) => setTimeout(resolve, PROBE_MS * 5));
    return this.#fleet.claimOnce(NAMESPACE, id, ttlMs);
  }
}

const NAMESPACE = 'ssf-jti';
/** How long the check before an apply holds its claim (ms). */
const PROBE_MS = 1;
