/**
 * One server's ceiling on the inbound plaintext all its connections' data gates hold at once.
 *
 * maxHeldBytes bounds one connection; while a certificate request is out its gate must read on
 * (the answer sits behind the data in flight), so a re-check that asks every connection for a
 * fresh certificate at the same moment could make the server hold N × maxHeldBytes. The budget
 * bounds the sum. Past it, the connections that have held data the longest are cut until the total
 * fits again. An honest peer answers its certificate request at once, so it holds briefly; a peer
 * that sits on held data without answering has held since before it, and goes first. Neither the
 * size of a share (attackers split theirs over many connections) nor who crossed the line (an
 * honest peer whose data arrived last) decides.
 */
import { ctlsError } from '../common/errors.js';

export const DEFAULT_MAX_HELD_BYTES_TOTAL = 256 * 1024 * 1024;

/** What an evicted connection fails with. */
function heldTotalError(limit: number): Error {
  return ctlsError(
    'ERR_CTLS_HELD_LIMIT',
    `the server's connections held more than ${limit} bytes of plaintext while their authorization ` +
      'was pending (maxHeldBytesTotal), and this connection had held data the longest',
  );
}

/** A data gate as the budget sees it. */
export interface BudgetHolder {
  readonly heldBytes: number;
  /** Drops what it holds (giving it back) and fails its connection with `error`. */
  evict(error: Error): void;
}

export class HeldBudget {
  readonly limit: number;
  #used = 0;
  /** Holders with bytes counted here, in the order they began holding (the longest first). */
  readonly #holders = new Set<BudgetHolder>();
  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held now across the server's connections. */
  get used(): number {
    return this.#used;
  }

  /**
   * Counts `bytes` more held by `holder` (whose heldBytes already include them). Past the limit,
   * evicts the holders that began holding first until the total fits. False when `holder` itself
   * was evicted.
   */
  take(holder: BudgetHolder, bytes: number): boolean {
    if (bytes === 0) return true;
    this.#used += bytes;
    this.#holders.add(holder);
    let survived = true;
    while (this.#used > this.limit) {
      const victim = this.#longestHolding();
      if (victim === null) break;
      victim.evict(heldTotalError(this.limit));
      // An evicted holder gives everything back; one that did not is taken off the books anyway,
      // so the loop always ends.
      if (this.#holders.delete(victim)) this.#used -= victim.heldBytes;
      if (victim === holder) survived = false;
    }
    return survived;
  }

  /** Returns bytes `holder` no longer holds; `remaining` is what it still holds after that. */
  give(holder: BudgetHolder, bytes: number, remaining: number): void {
    this.#used -= bytes;
    if (remaining === 0) this.#holders.delete(holder);
  }

  #longestHolding(): BudgetHolder | null {
    for (const holder of this.#holders) return holder;
    return null;
  }
}
