/**
 * Timer delays as node honours them. setTimeout (and timers/promises) turn a delay longer than
 * 2^31-1 ms (about 24.8 days) into 1 ms, with a warning: a timeout given as a month would fire at
 * once, so a security timeout would deny everything, or, where the timeout is what lets a late
 * revocation through, fail open. Every timer whose delay comes from a caller's option goes through
 * timerDelay(): a longer wait than the cap is, for every purpose here, no limit.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` as a delay setTimeout keeps: capped at MAX_TIMER_MS. */
export function timerDelay(ms: number): number {
  return ms > MAX_TIMER_MS ? MAX_TIMER_MS : ms;
}
