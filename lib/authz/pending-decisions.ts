/**
 * Decisions in flight on one connection: when a new request may share one instead of starting its
 * own (concurrent reauthorize() calls, a periodic re-check and a trust sweep arriving together then
 * cost one evaluation, never an answer to another question), which of them hold the connection's
 * data, and whether what one was decided under still holds when its answer arrives.
 */
import type { Decision, Trigger } from '../common/types.js';
import type { SecureContext } from '../tls/context.js';
import type { FreshFallback } from './schedule-options.js';
import type { AuthorizationSubject } from './subject.js';

/** What a request for a decision asks. */
export interface DecisionRequest {
  fresh: boolean;
  destroyOnDeny: boolean;
  /** For a fresh decision: what it does when the peer cannot do a fresh exchange. */
  fallback: FreshFallback;
  context: Record<string, unknown>;
  token: Record<string, unknown> | undefined;
}

/** A decision in flight on one connection; later requests with the same inputs share it. */
export interface PendingDecision extends DecisionRequest {
  seq: number;
  promise: Promise<Decision>;
  /** Whether this decision holds the connection's data (its own hold key) until it concludes. */
  held: boolean;
}

/**
 * The decision in flight that answers exactly the same question: same context and token (compared
 * by identity: new signals make new objects), same destroyOnDeny, and fresh when a fresh one is
 * asked for (a revalidation is satisfied by a fresh exchange in flight, not the other way round).
 * A fresh request that must deny when the peer cannot answer does not take the answer of one that
 * falls back to revalidation.
 */
export function joinable(pending: readonly PendingDecision[], request: DecisionRequest): PendingDecision | undefined {
  for (const entry of pending) {
    if (entry.context !== request.context || entry.token !== request.token) continue;
    if (entry.destroyOnDeny !== request.destroyOnDeny || (request.fresh && !entry.fresh)) continue;
    if (request.fresh && entry.fallback !== request.fallback) continue;
    return entry;
  }
  return undefined;
}

/**
 * Routine re-checks of a still-valid decision let data flow meanwhile; everything else (a fresh
 * exchange, a new certificate, a lapsed decision, a trust or policy change) holds it until the answer.
 */
export function holdsData(trigger: Trigger, fresh: boolean, current: Decision | null, now: () => number): boolean {
  if (fresh) return true;
  if (trigger !== 'interval' && trigger !== 'manual') return true;
  return current === null || current.expiresAt <= now();
}

/** The hold a pending decision puts on its connection: one per decision, released when it concludes. */
export function holdKey(seq: number): string {
  return `decision:${seq}`;
}

/**
 * The trust a decision is made under. A decision concludes only while all of it still holds:
 * a CA/CRL change of the connection's trust context, a policy change or a new certificate on the
 * connection while the decision was pending sends it back to be made again (docs/security.md,
 * "The verdict-reuse rule").
 */
export interface Stamp {
  trust: SecureContext;
  trustGeneration: number;
  policyGeneration: number;
  certificateEpoch: number;
}

export function stampOf(subject: AuthorizationSubject, policyGeneration: number): Stamp {
  const trust = subject.trust;
  const certificateEpoch = subject.certificateEpoch;
  return { trust, trustGeneration: trust.trustGeneration, policyGeneration, certificateEpoch };
}

export function stillHolds(stamp: Stamp, subject: AuthorizationSubject, policyGeneration: number): boolean {
  const trust = subject.trust;
  return (
    stamp.trust === trust &&
    stamp.trustGeneration === trust.trustGeneration &&
    stamp.policyGeneration === policyGeneration &&
    stamp.certificateEpoch === subject.certificateEpoch
  );
}
