/**
 * Fleet events: checked and normalised before they reach the feed, checked again when read from it,
 * and turned into the state operations every member and the feed's snapshot apply alike.
 *
 * An event is refused whole (ERR_CTLS_FLEET_BAD_EVENT, or ERR_CTLS_BAD_SUBJECT for its subject):
 * nothing a caller or another writer of the stream sends is half-applied.
 */
import { ctlsError } from '../common/errors.js';
import { native } from '../tls/native.js';
import { subjectKeys } from './subject-id.js';
import type { FleetEvent, SubjectIdentifier } from './types.js';

const MAX_SERIAL_HEX = 128;
const MAX_TEXT = 1024;
const MAX_SIGNALS_BYTES = 16 * 1024;
const MAX_SUBJECT_KEYS = 64;
const MAX_CRL_BYTES = 16 * 1024 * 1024;
/** The latest epoch ms a Date can hold: "never expires" as a number both Lua and JS compare. */
export const MAX_TIME = 8_640_000_000_000_000;

/** Upper-case hex without colons, spaces or leading zeros ('0' for zero); undefined when not hex. */
export function normalizeSerial(serial: string): string | undefined {
  const hex = serial.replace(/[:\s]/g, '').toUpperCase();
  if (hex.length === 0 || hex.length > MAX_SERIAL_HEX || !/^[0-9A-F]+$/.test(hex)) return undefined;
  return hex.replace(/^0+(?=.)/, '');
}

/**
 * An issuer name as node prints it (`X509Certificate#issuer`: one attribute per line, most general
 * first), with each line trimmed and spaces around '=' dropped. A one-line name in OpenSSL's slash
 * form ('/C=US/O=Example/CN=CA') reads the same way.
 */
export function normalizeIssuer(issuer: string): string {
  const parts = issuer.includes('\n') || !issuer.startsWith('/') ? issuer.split(/\r?\n/) : issuer.slice(1).split('/');
  return parts
    .map((part) => part.trim().replace(/^([^=]*?)\s*=\s*/, '$1='))
    .filter((part) => part.length > 0)
    .join('\n');
}

/**
 * An RFC 2253 name (OpenSSL's XN_FLAG_RFC2253, as CRL facts carry it: most specific first, commas
 * between attributes, backslash escapes) in the form normalizeIssuer() gives.
 */
export function issuerFromRfc2253(name: string): string {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (c === '\\' && i + 1 < name.length) {
      const hex = /^[0-9A-Fa-f]{2}/.exec(name.slice(i + 1, i + 3));
      // A hex pair escapes a byte of a UTF-8 sequence; decoding is left to the string as a whole.
      current += hex !== null ? `%${hex[0]}` : name[i + 1]!;
      i += hex !== null ? 2 : 1;
    } else if (c === ',' || c === '+') {
      parts.push(current);
      current = '';
    } else {
      current += c === '%' ? '%25' : c;
    }
  }
  parts.push(current);
  return normalizeIssuer(
    parts
      .reverse()
      .map((part) => {
        try {
          return decodeURIComponent(part);
        } catch {
          return part;
        }
      })
      .join('\n'),
  );
}

function badEvent(detail: string): Error {
  return ctlsError('ERR_CTLS_FLEET_BAD_EVENT', `Invalid fleet event: ${detail}`);
}

function optionalText(e: Record<string, unknown>, name: string): string | undefined {
  const value = e[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > MAX_TEXT)
    throw badEvent(`${name} must be a string of at most ${MAX_TEXT} characters`);
  return value;
}

function optionalTime(e: Record<string, unknown>, name: string): number | undefined {
  const value = e[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw badEvent(`${name} must be a finite epoch ms`);
  return value;
}

function subjectOf(e: Record<string, unknown>): SubjectIdentifier {
  // Every identifier of a subject is a state entry on every member: an alias list is bounded.
  if (subjectKeys(e['subject']).length > MAX_SUBJECT_KEYS)
    throw badEvent(`a subject may name at most ${MAX_SUBJECT_KEYS} identifiers`);
  // A JSON round trip keeps only data: no getters, prototypes or undefined members reach the feed.
  return JSON.parse(JSON.stringify(e['subject'])) as SubjectIdentifier;
}

/** One CRL per PEM block, each parsed; throws ERR_CTLS_BAD_PEM when any block does not parse. */
export function splitCrls(pem: string | Buffer): Array<{ pem: string; issuer: string; lastUpdate: number }> {
  const text = Buffer.isBuffer(pem) ? pem.toString('latin1') : pem;
  if (typeof text !== 'string' || text.length > MAX_CRL_BYTES)
    throw ctlsError('ERR_CTLS_BAD_PEM', `A CRL must be a PEM string or Buffer of at most ${MAX_CRL_BYTES} bytes`);
  const blocks = text.match(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g) ?? [];
  if (blocks.length === 0) throw ctlsError('ERR_CTLS_BAD_PEM', 'The CRL holds no "-----BEGIN X509 CRL-----" block');
  return blocks.map((block) => {
    let info;
    try {
      info = native.crlInfo(Buffer.from(block, 'latin1'), false);
    } catch (error) {
      throw ctlsError('ERR_CTLS_BAD_PEM', `The CRL could not be parsed: ${(error as Error).message}`, { cause: error });
    }
    const first = info[0];
    if (first === undefined) throw ctlsError('ERR_CTLS_BAD_PEM', 'The CRL could not be parsed');
    return { pem: `${block}\n`, issuer: issuerFromRfc2253(first.issuer), lastUpdate: first.lastUpdate };
  });
}

/** The serials a single-CRL PEM lists, normalised. */
export function crlSerials(pem: string): string[] {
  const info = native.crlInfo(Buffer.from(pem, 'latin1'), true)[0];
  if (info === undefined) return [];
  const out: string[] = [];
  for (const serial of info.revoked) {
    const normal = normalizeSerial(serial);
    if (normal !== undefined) out.push(normal);
  }
  return out;
}

/**
 * A checked, normalised copy of `event`: serials in normal form, issuers as normalizeIssuer()
 * gives, only the members the type defines. Throws ERR_CTLS_FLEET_BAD_EVENT (ERR_CTLS_BAD_SUBJECT
 * for a subject, ERR_CTLS_BAD_PEM for a CRL).
 */
export function checkEvent(event: unknown): FleetEvent {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) throw badEvent('an event must be an object');
  const e = event as Record<string, unknown>;
  switch (e['type']) {
    case 'certificate-revoked': {
      const serial = typeof e['serial'] === 'string' ? normalizeSerial(e['serial']) : undefined;
      if (serial === undefined) throw badEvent('serial must be a hex string (colons allowed)');
      const issuer = optionalText(e, 'issuer');
      const out: FleetEvent = { type: 'certificate-revoked', serial };
      if (issuer !== undefined && normalizeIssuer(issuer) !== '') out.issuer = normalizeIssuer(issuer);
      const reason = optionalText(e, 'reason');
      if (reason !== undefined) out.reason = reason;
      const expiresAt = optionalTime(e, 'expiresAt');
      if (expiresAt !== undefined) out.expiresAt = expiresAt;
      return out;
    }
    case 'crl': {
      if (typeof e['pem'] !== 'string') throw badEvent('a crl event needs its pem as a string');
      splitCrls(e['pem']);
      return { type: 'crl', pem: e['pem'] };
    }
    case 'subject-revoked': {
      const subject = subjectOf(e);
      const before = optionalTime(e, 'before');
      if (before === undefined) throw badEvent('subject-revoked needs before (epoch ms)');
      const out: FleetEvent = { type: 'subject-revoked', subject, before };
      const reason = optionalText(e, 'reason');
      if (reason !== undefined) out.reason = reason;
      const expiresAt = optionalTime(e, 'expiresAt');
      if (expiresAt !== undefined) out.expiresAt = expiresAt;
      return out;
    }
    case 'signals': {
      const subject = subjectOf(e);
      const signals = e['signals'];
      if (signals === null || typeof signals !== 'object' || Array.isArray(signals))
        throw badEvent('signals must be an object');
      let json: string;
      try {
        json = JSON.stringify(signals);
      } catch {
        throw badEvent('signals must be JSON data');
      }
      if (json.length > MAX_SIGNALS_BYTES) throw badEvent(`signals are larger than ${MAX_SIGNALS_BYTES} bytes`);
      return { type: 'signals', subject, signals: JSON.parse(json) as Record<string, unknown> };
    }
    case 'policy-invalidated': {
      const reason = optionalText(e, 'reason');
      return reason === undefined ? { type: 'policy-invalidated' } : { type: 'policy-invalidated', reason };
    }
    default:
      throw badEvent(`unknown type ${JSON.stringify(String(e['type'])).slice(0, 80)}`);
  }
}

/** The state hashes of a fleet (each a Redis hash beside the stream, and a map in every member). */
export type StateHash = 'serials' | 'subjects' | 'signals' | 'crls';
export const STATE_HASHES: readonly StateHash[] = ['serials', 'subjects', 'signals', 'crls'];

/**
 * One change to a state hash. `set` overwrites the field; `max` writes it only when the number its
 * value starts with is at least the one already there. The feed's publish script and every member
 * apply the same operations, so a member's state is always the snapshot's at the same entry.
 */
export interface StateOp {
  hash: StateHash;
  field: string;
  value: string;
  rule: 'set' | 'max';
}

/**
 * The state operations of a checked event.
 * - serials: field serial|issuer, value `expiresAt` newline JSON [serial, issuer?]: the longest-lived
 *   revocation of a serial under an issuer, so a later one with a nearer expiry never shortens it
 * - subjects: field JSON [key, expiresAt|null], value `before`: the latest `before` per key and expiry,
 *   so a later revocation with another expiry never shortens an earlier one
 * - signals: field JSON [key, name], value JSON of the signal
 * - crls: field issuer, value `lastUpdate` newline PEM: the latest CRL per issuer
 */
export function stateOps(event: FleetEvent): StateOp[] {
  switch (event.type) {
    case 'certificate-revoked': {
      const value = JSON.stringify(event.issuer === undefined ? [event.serial] : [event.serial, event.issuer]);
      const field = `${event.serial}|${event.issuer ?? ''}`;
      return [{ hash: 'serials', field, value: `${event.expiresAt ?? MAX_TIME}\n${value}`, rule: 'max' }];
    }
    case 'subject-revoked':
      return subjectKeys(event.subject).map((key) => ({
        hash: 'subjects',
        field: JSON.stringify([key, event.expiresAt ?? null]),
        value: String(event.before),
        rule: 'max',
      }));
    case 'signals': {
      const ops: StateOp[] = [];
      for (const key of subjectKeys(event.subject))
        for (const [name, value] of Object.entries(event.signals))
          ops.push({ hash: 'signals', field: JSON.stringify([key, name]), value: JSON.stringify(value), rule: 'set' });
      return ops;
    }
    case 'crl':
      return splitCrls(event.pem).map((crl) => ({
        hash: 'crls',
        field: crl.issuer,
        value: `${crl.lastUpdate}\n${crl.pem}`,
        rule: 'max',
      }));
    case 'policy-invalidated':
      return [];
  }
}

/** The number a `max` value starts with (NaN when there is none). */
export function leadingNumber(value: string): number {
  const end = value.indexOf('\n');
  return Number(end < 0 ? value : value.slice(0, end));
}

/** The index keys an event affects: what a watched host re-decides. */
export function affectedKeys(event: FleetEvent): string[] {
  switch (event.type) {
    case 'certificate-revoked':
      return [`serial:${event.serial}`];
    case 'subject-revoked':
    case 'signals':
      return subjectKeys(event.subject);
    default:
      return [];
  }
}
