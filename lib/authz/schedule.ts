/**
 * One timer for every scheduled re-check of every connection: a binary
 * min-heap of due times behind a single unref'd setTimeout. Scheduling and
 * cancelling cost O(log n), so 100k connections do not mean 100k timers, and
 * the process never stays alive just because re-checks are pending.
 */
// Longer waits than setTimeout honours re-arm.
import { MAX_TIMER_MS } from '../common/timers.js';

export interface ScheduledTask {
  readonly dueAt: number;
  /** Set when cancelled; the heap drops it lazily when it reaches the top. */
  cancelled: boolean;
}

interface Entry extends ScheduledTask {
  run: () => void;
  seq: number;
}

export interface SchedulerClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): { unref?: () => unknown } | unknown;
  clearTimeout(handle: unknown): void;
}

const NOOP = (): void => {};

const SYSTEM_CLOCK: SchedulerClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class Scheduler {
  #heap: Entry[] = [];
  #timer: unknown = null;
  #timerDue = Infinity;
  #seq = 0;
  #cancelledCount = 0;
  readonly #clock: SchedulerClock;

  constructor(clock: SchedulerClock = SYSTEM_CLOCK) {
    this.#clock = clock;
  }

  get size(): number {
    return this.#heap.length;
  }

  now(): number {
    return this.#clock.now();
  }

  /** Runs `run` at (or just after) `dueAt` epoch ms. */
  schedule(dueAt: number, run: () => void): ScheduledTask {
    const entry: Entry = { dueAt, run, cancelled: false, seq: this.#seq++ };
    this.#heap.push(entry);
    this.#siftUp(this.#heap.length - 1);
    if (dueAt < this.#timerDue) this.#arm();
    return entry;
  }

  cancel(task: ScheduledTask | null | undefined): void {
    if (!task || task.cancelled) return;
    task.cancelled = true;
    // The entry may wait in the heap until it surfaces; its closure (a
    // connection's state, and so its socket) must not wait with it.
    (task as Entry).run = NOOP;
    // Cancelled entries normally leave when they reach the top; far-future
    // ones (a certificate's notAfter) would pile up, so compact now and then.
    if (++this.#cancelledCount > 1024 && this.#cancelledCount * 2 > this.#heap.length) this.#compact();
  }

  #compact(): void {
    this.#heap = this.#heap.filter((entry) => !entry.cancelled);
    this.#cancelledCount = 0;
    for (let index = (this.#heap.length >> 1) - 1; index >= 0; index--) this.#siftDown(index);
    this.#arm();
  }

  /** Stops the timer; pending tasks never run. */
  clear(): void {
    this.#heap = [];
    this.#cancelledCount = 0;
    this.#disarm();
  }

  #arm(): void {
    this.#disarm();
    const top = this.#heap[0];
    if (top === undefined) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, top.dueAt - this.#clock.now()));
    this.#timerDue = top.dueAt;
    const handle = this.#clock.setTimeout(() => this.#fire(), delay);
    (handle as { unref?: () => unknown } | null)?.unref?.();
    this.#timer = handle;
  }

  #disarm(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerDue = Infinity;
  }

  #fire(): void {
    this.#timer = null;
    this.#timerDue = Infinity;
    const now = this.#clock.now();
    const due: Entry[] = [];
    while (this.#heap.length > 0 && this.#heap[0]!.dueAt <= now) {
      const entry = this.#pop();
      if (entry.cancelled) this.#cancelledCount = Math.max(0, this.#cancelledCount - 1);
      else due.push(entry);
    }
    this.#dropCancelledTop();
    this.#arm();
    for (const entry of due) {
      entry.cancelled = true;
      entry.run();
    }
  }

  #dropCancelledTop(): void {
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) {
      this.#pop();
      this.#cancelledCount = Math.max(0, this.#cancelledCount - 1);
    }
  }

  #pop(): Entry {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      this.#siftDown(0);
    }
    return top;
  }

  #less(a: Entry, b: Entry): boolean {
    return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq);
  }

  #siftUp(index: number): void {
    const heap = this.#heap;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.#less(heap[index]!, heap[parent]!)) return;
      [heap[index], heap[parent]] = [heap[parent]!, heap[index]!];
      index = parent;
    }
  }

  #siftDown(index: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && this.#less(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && this.#less(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === index) return;
      [heap[index], heap[smallest]] = [heap[smallest]!, heap[index]!];
      index = smallest;
    }
  }
}
