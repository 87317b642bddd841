/**
 * CAEP 1.0 events -> fleet events. The subject is the SET's top-level `sub_id` (SSF 1.0)
 * or, in SETs from transmitters following earlier drafts, the event's own `subject`.
 *
 * session-revoked          -> subject-revoked, before the event's `event_timestamp` (else `iat`), to the
 *                             end of the second it names
 * credential-change        -> (change_type revoke or delete) certificate-revoked when an x509 serial
 *                             is given, else subject-revoked; create and update change no access
 * token-claims-change      -> signals { claims }
 * assurance-level-change   -> signals { assurance: { namespace, current_level, previous_level, change_direction } }
 * device-compliance-change -> signals { device: { current_status, previous_status } }
 * Any other event type is acknowledged and reported, never applied.
 */
import { subjectKeys, type SubjectIdentifier, type SubjectUse } from '../subject-id.js';
import type { FleetEvent, SignalsEvent } from '../types.js';
import { setInvalid, type VerifiedSet } from './set-verify.js';

export const CAEP_EVENT_PREFIX = 'https://schemas.openid.net/secevent/caep/event-type/';
export const SSF_VERIFICATION_EVENT = 'https://schemas.openid.net/secevent/ssf/event-type/verification';

/** One event of a SET, read. */
export interface SsfMappedEvent {
  /** The event type URI. */
  type: string;
  /** The CAEP name (`session-revoked`), `verification`, or the URI for anything else. */
  name: string;
  payload: Record<string, unknown>;
  subject: SubjectIdentifier | undefined;
  /** What the fleet is asked to do; null for events that change no access. */
  action: FleetEvent | null;
  /** A stream verification event's `state` (SSF 1.0 stream verification). */
  verificationState?: string | undefined;
}

const MAX_REASON_CHARS = 256;
// The fleet stores at most 4 KB of signals per event: a larger one is refused here already.
const MAX_SIGNALS_CHARS = 4_000;

/** The receiver's clock: `now` (ms) and the skew it tolerates on the transmitter's clock (ms). */
interface Clock {
  now: number;
  tolerance: number;
}

/**
 * Every event of a verified SET; throws invalid_request when a known event is malformed.
 * `clockTolerance` is the skew the verifier accepted on `iat` (ms).
 */
export function mapSet(set: VerifiedSet, now = Date.now(), clockTolerance = 0): SsfMappedEvent[] {
  const clock = { now, tolerance: clockTolerance };
  return Object.entries(set.claims.events).map(([type, payload]) => mapEvent(set, type, payload, clock));
}

function mapEvent(set: VerifiedSet, type: string, payload: Record<string, unknown>, clock: Clock): SsfMappedEvent {
  if (type === SSF_VERIFICATION_EVENT) {
    const state = payload['state'];
    return { type, name: 'verification', payload, subject: undefined, action: null, verificationState: str(state) };
  }
  if (!type.startsWith(CAEP_EVENT_PREFIX)) return { type, name: type, payload, subject: undefined, action: null };
  const name = type.slice(CAEP_EVENT_PREFIX.length);
  const build = BUILDERS[name];
  if (build === undefined) return { type, name, payload, subject: undefined, action: null };
  const subject = subjectOf(set, payload, SIGNAL_EVENTS.has(name) ? 'exact' : 'revocation');
  return { type, name, payload, subject, action: build(subject, payload, set, clock) };
}

type Builder = (
  subject: SubjectIdentifier,
  payload: Record<string, unknown>,
  set: VerifiedSet,
  clock: Clock,
) => FleetEvent | null;

/**
 * The events that become signals, which a policy may read to admit a peer: their subject is keyed
 * exactly, and a complex subject with a part in a format not known here is refused rather than
 * widened to its other parts (see SubjectUse). The others revoke, and skip such a part.
 */
const SIGNAL_EVENTS: ReadonlySet<string> = new Set([
  'token-claims-change',
  'assurance-level-change',
  'device-compliance-change',
]);

const BUILDERS: Record<string, Builder> = {
  'session-revoked': (subject, payload, set, clock) => subjectRevoked(subject, payload, set, clock),
  'credential-change': (subject, payload, set, clock) => {
    const change = payload['change_type'];
    if (typeof change !== 'string') throw malformed('credential-change needs a change_type');
    if (change !== 'revoke' && change !== 'delete') return null;
    const serial = payload['x509_serial'];
    if (serial === undefined) return subjectRevoked(subject, payload, set, clock);
    const hex = hexSerial(serial);
    // x509_issuer is not matched: its DN spelling (RFC 4514) differs from node's, and a revocation
    // that matched nothing for a spelling would fail open. A serial alone errs towards cutting.
    return { type: 'certificate-revoked', serial: hex, ...reason(payload) };
  },
  'token-claims-change': (subject, payload, set, clock) => {
    const claims = payload['claims'];
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims))
      throw malformed('token-claims-change needs a claims object');
    return signals(subject, { claims }, payload, set, clock);
  },
  'assurance-level-change': (subject, payload, set, clock) =>
    signals(
      subject,
      {
        assurance: pick(payload, ['namespace', 'current_level', 'previous_level', 'change_direction'], 'current_level'),
      },
      payload,
      set,
      clock,
    ),
  'device-compliance-change': (subject, payload, set, clock) =>
    signals(
      subject,
      { device: pick(payload, ['current_status', 'previous_status'], 'current_status') },
      payload,
      set,
      clock,
    ),
};

function subjectRevoked(
  subject: SubjectIdentifier,
  payload: Record<string, unknown>,
  set: VerifiedSet,
  clock: Clock,
): FleetEvent {
  const seconds = eventSeconds(payload, set);
  // Whole seconds name a moment somewhere in that second: its end errs towards cutting a session
  // begun in it. The moment is on the transmitter's clock, as are the iat of the tokens it issued:
  // clamped to our now, a transmitter running ahead (within the tolerance the SET was accepted
  // with) would leave its tokens issued just before the revocation standing. So the bound is now
  // plus that tolerance: no later, so a far-future timestamp cannot ban sessions yet to come.
  const end = Number.isInteger(seconds) ? seconds + 1 : seconds;
  const before = Math.min(end * 1000, clock.now + clock.tolerance);
  return { type: 'subject-revoked', subject, before, ...reason(payload) };
}

/**
 * Signals carry when they happened (`at`, epoch ms, from event_timestamp else iat) so that an older
 * event delivered late (RFC 8935/8936 give no delivery order) cannot replace a newer one.
 */
/**
 * CAEP 1.0 defines x509_serial as a JSON string holding "the serial number of the X.509 certificate
 * as defined in RFC 5280", an INTEGER, and names no text form. Decimal and hexadecimal spellings of
 * one serial differ, and a guess revokes some other certificate while the one meant stays valid;
 * so only spellings that can be hexadecimal alone are taken: 0x-prefixed, colon-separated bytes
 * (as OpenSSL prints serials), or digits with a letter a-f. A run of decimal digits (longer than
 * one, where both readings agree) is refused as invalid_request, telling the transmitter why.
 */
function hexSerial(serial: unknown): string {
  if (typeof serial !== 'string') throw malformed('x509_serial is not a string');
  const prefixed = /^0x([0-9a-f]{1,128})$/i.exec(serial);
  if (prefixed !== null) return prefixed[1] as string;
  const bytes = /^[0-9a-f]{1,2}(?::[0-9a-f]{1,2}){1,63}$/i.test(serial);
  const plain = /^[0-9a-f]{1,128}$/i.test(serial);
  if (!bytes && !plain) throw malformed('x509_serial is not a hexadecimal serial number');
  if (plain && serial.length > 1 && /^[0-9]+$/.test(serial))
    throw malformed('x509_serial is ambiguous (decimal or hexadecimal?): send it as 0x… or colon-separated bytes');
  return serial;
}

function signals(
  subject: SubjectIdentifier,
  facts: Record<string, unknown>,
  payload: Record<string, unknown>,
  set: VerifiedSet,
  clock: Clock,
): FleetEvent {
  if (JSON.stringify(facts).length > MAX_SIGNALS_CHARS) throw malformed('the event carries too much data');
  const event: SignalsEvent & { at: number } = {
    type: 'signals',
    subject,
    signals: facts,
    // The moment is on the transmitter's clock, and only its order matters: clamped to our now, a
    // transmitter running ahead (within the tolerance the SET was accepted with) would see each signal
    // stamped with its arrival, and an older one delivered late would replace a newer one. No later
    // than now plus that tolerance, so a far-future timestamp cannot pin its signal as the newest.
    at: Math.min(Math.round(eventSeconds(payload, set) * 1000), clock.now + clock.tolerance),
  };
  return event;
}

/** The event's time (epoch seconds): its event_timestamp (CAEP 1.0), else the SET's iat. */
function eventSeconds(payload: Record<string, unknown>, set: VerifiedSet): number {
  const at = payload['event_timestamp'];
  return typeof at === 'number' && Number.isFinite(at) && at > 0 ? at : set.claims.iat;
}

function pick(payload: Record<string, unknown>, names: string[], required: string): Record<string, unknown> {
  if (payload[required] === undefined) throw malformed(`the event needs ${required}`);
  const out: Record<string, unknown> = {};
  for (const name of names) if (payload[name] !== undefined) out[name] = payload[name];
  return out;
}

/** CAEP 1.0 `reason_admin`: an object of language tag -> text; earlier drafts: a string. */
function reason(payload: Record<string, unknown>): { reason?: string } {
  const raw = payload['reason_admin'] ?? payload['reason_user'];
  let text: string | undefined;
  if (typeof raw === 'string') text = raw;
  else if (raw !== null && typeof raw === 'object') {
    const texts = raw as Record<string, unknown>;
    text = str(texts['en']) ?? Object.values(texts).find((value): value is string => typeof value === 'string');
  }
  return text === undefined ? {} : { reason: text.slice(0, MAX_REASON_CHARS) };
}

function subjectOf(set: VerifiedSet, payload: Record<string, unknown>, use: SubjectUse): SubjectIdentifier {
  const subject = set.claims.sub_id ?? payload['subject'];
  if (subject === undefined) throw malformed('the SET names no subject (sub_id)');
  try {
    subjectKeys(subject, use);
  } catch (err) {
    throw malformed((err as Error).message);
  }
  return subject as SubjectIdentifier;
}

function malformed(detail: string): Error {
  return setInvalid('invalid_request', detail);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
