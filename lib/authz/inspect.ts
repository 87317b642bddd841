/**
 * A JSON report of the live connections an engine tracks, for operators: who the peer is, what
 * was decided and why, until when, and when it is checked next. Plain data only: strings, numbers,
 * booleans and null (times as ISO 8601 strings), so JSON.stringify loses nothing. A certificate
 * appears by its public fields alone (names, serial, fingerprint), never as PEM or DER.
 */
import type { X509Certificate } from 'node:crypto';
import { commonName } from '../policy/facts.js';
import type { Decision, DecisionSource, Trigger } from '../common/types.js';
import type { Authorizer, ConnectionView } from './authorizer.js';

/** The peer's leaf certificate, by its public fields. */
export interface InspectedPeer {
  /** The last CN of the subject, as policies read it; null when the subject has none. */
  commonName: string | null;
  /** The subject DN as crypto.X509Certificate#subject prints it: one `TYPE=value` per line. */
  subject: string;
  issuer: string;
  /** Uppercase hex, as crypto.X509Certificate#serialNumber prints it. */
  serialNumber: string;
  /** SHA-256, as crypto.X509Certificate#fingerprint256 prints it. */
  fingerprint256: string;
  /** null when OpenSSL's text of notAfter is not a date JavaScript reads. */
  validTo: string | null;
}

export interface InspectedDecision {
  allow: boolean;
  reason: string;
  source: DecisionSource;
  trigger: Trigger;
  /** When an allow lapses; null when nothing bounds it (or past year 275760), and for a denial. */
  expiresAt: string | null;
}

export interface InspectedConnection {
  tier: 'owned' | 'attached';
  remoteAddress: string | null;
  remotePort: number | null;
  servername: string | null;
  /** 'TLSv1.3' … */
  protocol: string | null;
  cipher: string | null;
  /** null when the peer presented no certificate. */
  peer: InspectedPeer | null;
  /** null while the first decision is being made. */
  decision: InspectedDecision | null;
  /** The re-check due first: the periodic one or the one at the decision's expiry. */
  nextCheck: { kind: 'interval' | 'expiry'; at: string | null } | null;
  ageMs: number;
  /** Fresh certificates the peer presented since the handshake. */
  reauthCount: number;
}

export interface InspectReport {
  generatedAt: string | null;
  connections: InspectedConnection[];
}

/** The report of every live connection of `authorizer` (closed and closing ones are left out). */
export function inspectConnections(authorizer: Authorizer): InspectReport {
  const now = authorizer.scheduler.now();
  const connections: InspectedConnection[] = [];
  for (const view of authorizer.liveConnections()) {
    if (view.subject.destroyed) continue;
    connections.push(inspectOne(view, now));
  }
  return { generatedAt: isoTime(now), connections };
}

function inspectOne(view: ConnectionView, now: number): InspectedConnection {
  const { subject, decision } = view;
  const info = subject.info();
  const socket = subject.socket;
  const leaf = decision?.certificate ?? firstOf(() => subject.peerChain()[0]);
  return {
    tier: subject.kind,
    remoteAddress: info.remoteAddress ?? null,
    remotePort: typeof socket.remotePort === 'number' ? socket.remotePort : null,
    servername: typeof info.servername === 'string' ? info.servername : null,
    protocol: info.protocol ?? null,
    cipher: info.cipher ?? null,
    peer: leaf === undefined ? null : inspectPeer(leaf),
    decision: decision === null ? null : inspectDecision(decision),
    nextCheck: view.nextCheck === null ? null : { kind: view.nextCheck.kind, at: isoTime(view.nextCheck.at) },
    ageMs: Math.max(0, Math.round(now - subject.createdAt)),
    reauthCount: view.reauthCount,
  };
}

function inspectPeer(cert: X509Certificate): InspectedPeer {
  return {
    commonName: commonName(cert) ?? null,
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    validTo: isoTime(Date.parse(cert.validTo)),
  };
}

function inspectDecision(decision: Decision): InspectedDecision {
  return {
    allow: decision.allow,
    reason: decision.reason,
    source: decision.source,
    trigger: decision.trigger,
    expiresAt: decision.allow ? isoTime(decision.expiresAt) : null,
  };
}

/** The peer chain of a socket being torn down may be unreadable: then there is none to show. */
function firstOf(read: () => X509Certificate | undefined): X509Certificate | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** ISO 8601, or null for a time no Date can hold (Infinity, NaN, a policy's far-off expiresAt). */
function isoTime(ms: number): string | null {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
