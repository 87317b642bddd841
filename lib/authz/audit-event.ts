/**
 * The audit record of a decision. Connections (both tiers) and the REST
 * middleware emit it as their 'decision' event, and DecisionMetrics records
 * it, so one listener can feed both an audit log and metrics.
 */
import { commonName } from '../policy/facts.js';
import type { AuthorizationInput, Decision, DecisionSource, Trigger } from '../common/types.js';

/** What every decision's audit record carries (the REST middleware's event is exactly this). */
export interface AuditEvent {
  trigger: Trigger;
  outcome: 'allow' | 'deny';
  reason: string;
  durationMs: number;
  source: DecisionSource;
  /** Subject CN or token sub. */
  subject?: string;
  /** Certificate serial number (hex, as X509Certificate#serialNumber). */
  serial?: string;
  /** Certificate SHA-256 fingerprint. */
  fingerprint?: string;
}

/** A connection's audit record: the common fields plus what only a connection has. */
export interface DecisionEvent extends AuditEvent {
  expiresAt: number;
  /** The full subject DN of the peer certificate. */
  subjectDN?: string;
  remoteAddress?: string;
  /** Free text from the caller of reauthorize() ('wire-transfer'). */
  note?: string;
}

/** Builds the audit record of a decision (as the REST middleware's onDecision hook receives it). */
export function decisionEvent(decision: Decision, input?: AuthorizationInput): AuditEvent {
  const event: AuditEvent = {
    trigger: decision.trigger,
    outcome: decision.allow ? 'allow' : 'deny',
    reason: decision.reason,
    durationMs: decision.durationMs,
    source: decision.source,
  };
  const certificate = decision.certificate ?? input?.peer.certificate;
  if (certificate !== undefined) {
    const cn = commonName(certificate);
    if (cn !== undefined) event.subject = cn;
    event.serial = certificate.serialNumber;
    event.fingerprint = certificate.fingerprint256;
  } else if (typeof input?.token?.['sub'] === 'string') {
    event.subject = input.token['sub'];
  }
  return event;
}

/** Builds a connection's audit record. */
export function connectionDecisionEvent(
  decision: Decision,
  remoteAddress: string | undefined,
  note: string | undefined,
): DecisionEvent {
  const event: DecisionEvent = { ...decisionEvent(decision), expiresAt: decision.expiresAt };
  if (decision.certificate !== undefined) event.subjectDN = decision.certificate.subject;
  if (remoteAddress !== undefined) event.remoteAddress = remoteAddress;
  if (note !== undefined) event.note = note;
  return event;
}
