/**
 * One server's ceiling on the inbound plaintext all its connections' data gates hold at once.
 *
 * maxHeldBytes bounds one connection; while a certificate request is out its gate must read on
 * (the answer sits behind the data in flight), so a re-check that asks every connection for a
 * fresh certificate at the same moment could make the server hold N × maxHeldBytes. The budget
 * bounds the sum: the connection whose data would take the total past it is cut instead, and
 * the others keep what they hold.
 */
export const DEFAULT_MAX_HELD_BYTES_TOTAL = 256 * 1024 * 1024;

export class HeldBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held now across the server's connections. */
  get used(): number {
    return this.#used;
  }

  /** Counts `bytes` more; false when that takes the total past the limit (they are counted all the same). */
  take(bytes: number): boolean {
    this.#used += bytes;
    return this.#used <= this.limit;
  }

  /** Returns bytes a gate no longer holds (handed to the reader, or dropped with the connection). */
  give(bytes: number): void {
    this.#used -= bytes;
  }
}
