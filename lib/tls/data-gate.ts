/**
 * The data gate of a TLSSocket: while the connection's authorization is pending or has lapsed,
 * no application byte passes in either direction, yet TLS itself (handshake flights, alerts,
 * the certificate request and its answer) keeps flowing underneath.
 *
 * The gate owns the reasons to hold (named, so independent holders such as the handshake, a
 * certificate request or a pending decision each release only their own), the deadline at which
 * the current decision lapses, the inbound plaintext held meanwhile (bounded by maxHeldBytes) and
 * the outbound write parked meanwhile. It does not touch the transport: the socket decides when
 * to stop and resume reading, from what the gate reports. Data leaves the gate only through its
 * outlet, so the gate never reaches into the socket.
 */
import { ctlsError } from '../common/errors.js';
import type { BudgetHolder, HeldBudget } from './held-budget.js';
import { ownPlaintext } from './own-plaintext.js';

export type WriteCallback = (error?: Error | null) => void;

/** Where data leaving the gate goes; the socket provides one per connection. */
export interface GateOutlet {
  /** Hands inbound plaintext to the reader; false once the reader's buffer is full. */
  push(chunk: Buffer): boolean;
  /** Sends a parked write down the socket's normal write path. */
  write(chunks: Buffer[], callback: WriteCallback): void;
  /** Ends the connection with `error`. */
  fail(error: Error): void;
}

/** Default ceiling of held plaintext while a certificate request is out. */
export const DEFAULT_MAX_HELD_BYTES = 16 * 1024 * 1024;

/**
 * maxHeldBytes counts plaintext, but each held chunk costs memory of its own (its Buffer and
 * ArrayBuffer objects): a peer sending one-byte records would make that cost the real one. Once
 * this many chunks wait, chunks smaller than SMALL_CHUNK are copied together into buffers of
 * COALESCED_SIZE, so held memory stays of the order of the plaintext counted.
 */
const COALESCE_AFTER = 64;
const SMALL_CHUNK = 512;
const COALESCED_SIZE = 8 * 1024;

export class DataGate implements BudgetHolder {
  readonly maxHeldBytes: number;
  #outlet: GateOutlet;
  #holds = new Set<string>();
  #deadline = Infinity;
  #clock: () => number = Date.now;
  #held: Buffer[] = [];
  #heldBytes = 0;
  /** The buffer small chunks are copied into; the last held chunk is its filled part. */
  #tail: Buffer | null = null;
  #tailUsed = 0;
  // Writable calls _write one batch at a time, so one parked slot is enough;
  // further writes queue in the stream with its own backpressure.
  #parkedChunks: Buffer[] | null = null;
  #parkedCallback: WriteCallback | null = null;

  /** The server-wide ceiling this gate's held bytes also count against, if any. */
  #budget: HeldBudget | null;

  constructor(outlet: GateOutlet, maxHeldBytes: number, budget: HeldBudget | null = null) {
    this.#outlet = outlet;
    this.maxHeldBytes = maxHeldBytes;
    this.#budget = budget;
  }

  /** Whether the gate holds data now: a hold is on, or the decision's deadline has come. */
  closed(): boolean {
    // The deadline closes the gate the very millisecond a decision lapses,
    // not when the re-check timer gets to run.
    return this.#holds.size > 0 || (this.#deadline !== Infinity && this.#clock() >= this.#deadline);
  }

  /** From `at` (epoch ms on `now`'s clock) on, the gate holds as if hold() had been called. */
  setDeadline(at: number, now: () => number): void {
    this.#deadline = at;
    this.#clock = now;
  }

  hold(reason: string): void {
    this.#holds.add(reason);
  }

  /** Removes one hold; true when that opened the gate (none remain and no deadline passed). */
  release(reason: string): boolean {
    return this.#holds.delete(reason) && !this.closed();
  }

  // ---- inbound ---------------------------------------------------------

  /** Whether inbound plaintext must wait: the gate is closed, or older plaintext still waits. */
  mustHold(): boolean {
    return this.#held.length > 0 || this.closed();
  }

  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Whether any inbound plaintext waits. */
  get holding(): boolean {
    return this.#held.length > 0;
  }

  /**
   * Holds a chunk of inbound plaintext. Past maxHeldBytes the connection fails with
   * ERR_CTLS_HELD_LIMIT and this returns false: a peer that keeps sending while its certificate
   * request is out cannot be paused (the answer sits behind its data), only cut.
   */
  keep(chunk: Buffer): boolean {
    if (chunk.length < SMALL_CHUNK && this.#held.length >= COALESCE_AFTER) {
      this.#append(chunk);
    } else {
      this.#sealTail();
      this.#held.push(chunk);
    }
    this.#heldBytes += chunk.length;
    // Past the server's total, the connections holding longest are cut (this one, perhaps).
    if (this.#budget !== null && !this.#budget.take(this, chunk.length)) return false;
    if (this.#heldBytes <= this.maxHeldBytes) return true;
    const message = `the peer sent more than ${this.maxHeldBytes} bytes while its authorization was pending`;
    this.evict(ctlsError('ERR_CTLS_HELD_LIMIT', message));
    return false;
  }

  /** Drops what the gate holds (given back to the server's budget) and fails the connection. */
  evict(error: Error): void {
    this.discard();
    this.#outlet.fail(error);
  }

  /** Copies a small chunk to the end of the held data, in the current coalescing buffer or a new one. */
  #append(chunk: Buffer): void {
    let tail = this.#tail;
    if (tail === null || this.#tailUsed + chunk.length > tail.length) {
      // Zeroed: the reader's chunk.buffer must show nothing but this connection's bytes.
      tail = this.#tail = Buffer.alloc(COALESCED_SIZE);
      this.#tailUsed = 0;
      this.#held.push(tail.subarray(0, 0));
    }
    chunk.copy(tail, this.#tailUsed);
    this.#tailUsed += chunk.length;
    this.#held[this.#held.length - 1] = tail.subarray(0, this.#tailUsed);
  }

  /**
   * Ends the current coalescing buffer before a large chunk goes behind it. A mostly empty one is
   * copied to its own size: else a peer alternating tiny and large records would make each tiny
   * one open, and pin, a whole COALESCED_SIZE buffer.
   */
  #sealTail(): void {
    if (this.#tail === null) return;
    this.#tail = null;
    const last = this.#held.length - 1;
    this.#held[last] = ownPlaintext(this.#held[last]!);
  }

  /** Hands held plaintext to the reader, in order, while the gate is open and the reader takes it. */
  flushHeld(): void {
    while (this.#held.length > 0 && !this.closed()) {
      let chunk = this.#held.shift()!;
      this.#heldBytes -= chunk.length;
      this.#budget?.give(this, chunk.length, this.#heldBytes);
      if (this.#held.length === 0 && this.#tail !== null) {
        // A coalescing buffer leaves as a chunk of its own size when it is mostly empty.
        this.#tail = null;
        chunk = ownPlaintext(chunk);
      }
      if (!this.#outlet.push(chunk)) return;
    }
  }

  // ---- outbound --------------------------------------------------------

  /** Parks a write until the gate opens (or a renegotiation lets writing go on). */
  park(chunks: Buffer[], callback: WriteCallback): void {
    this.#parkedChunks = chunks;
    this.#parkedCallback = callback;
  }

  get hasParked(): boolean {
    return this.#parkedCallback !== null;
  }

  /** Sends the parked write, if any, through the outlet. */
  flushParked(): void {
    const chunks = this.#parkedChunks;
    const callback = this.#parkedCallback;
    if (chunks === null || callback === null) return;
    this.#parkedChunks = null;
    this.#parkedCallback = null;
    this.#outlet.write(chunks, callback);
  }

  /** The connection is gone: held data was never authorized and is dropped; a parked write fails. */
  discard(): void {
    const dropped = this.#heldBytes;
    this.#held = [];
    this.#heldBytes = 0;
    if (dropped > 0) this.#budget?.give(this, dropped, 0);
    this.#tail = null;
    const callback = this.#parkedCallback;
    this.#parkedChunks = null;
    this.#parkedCallback = null;
    callback?.(ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket was destroyed before the data could be sent'));
  }
}
