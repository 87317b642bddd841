/**
 * The `reauthorize` option of a server or an attachment: when live connections are re-checked and
 * what a fresh re-check may do. Checked and defaulted once, when the engine is created, so a bad
 * value fails at createServer()/attach() rather than at the first re-check.
 */
import { checkBoolean, checkDuration, checkObject, checkOneOf } from '../common/validate.js';

export interface ReauthorizeSchedule {
  /** ms between periodic re-checks of every live connection; 0 = off (default 30 s). */
  every?: number;
  /** Periodic and expiry re-checks ask the peer for a new certificate. */
  fresh?: boolean;
  /** Re-check exactly when the decision (certificate, token, policy TTL) lapses (default true). */
  onExpiry?: boolean;
  /** ms a fresh re-authentication may take (default 5 s). */
  timeout?: number;
  /** Up to this many ms are added at random to each periodic re-check, to spread load. */
  jitter?: number;
  /** What a fresh re-check does when the peer cannot do it: revalidate (default) or deny. */
  fallback?: 'revalidate' | 'deny';
}

export type FreshFallback = NonNullable<ReauthorizeSchedule['fallback']>;

const FALLBACKS: readonly FreshFallback[] = ['revalidate', 'deny'];
const DEFAULT_EVERY_MS = 30_000;
const DEFAULT_FRESH_TIMEOUT_MS = 5_000;

/** Every field of `reauthorize` checked (ERR_CTLS_INVALID_OPTION naming it) and defaulted. */
export function scheduleOptions(schedule: ReauthorizeSchedule | undefined): Required<ReauthorizeSchedule> {
  const s = checkObject('reauthorize', schedule) ?? {};
  return {
    every: checkDuration('reauthorize.every', s.every, DEFAULT_EVERY_MS, { zero: true }),
    fresh: checkBoolean('reauthorize.fresh', s.fresh, false),
    onExpiry: checkBoolean('reauthorize.onExpiry', s.onExpiry, true),
    timeout: checkDuration('reauthorize.timeout', s.timeout, DEFAULT_FRESH_TIMEOUT_MS),
    jitter: checkDuration('reauthorize.jitter', s.jitter, 0, { zero: true }),
    fallback: checkOneOf('reauthorize.fallback', s.fallback, FALLBACKS, 'revalidate'),
  };
}
