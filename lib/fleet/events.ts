/**
 * Fleet events: checked and normalised before they reach the feed, checked again when read from it,
 * and turned into the state operations every member and the feed's snapshot apply alike.
 *
 * An event is refused whole (ERR_CTLS_FLEET_BAD_EVENT, or ERR_CTLS_BAD_SUBJECT for its subject):
 * nothing a caller or another writer of the stream sends is half-applied.
 */
import { createHash } from 'node:crypto';
import { ctlsError } from '../common/errors.js';
import { native } from '../tls/native.js';
import { subjectKeys, type SubjectUse } from './subject-id.js';
import type { FleetEvent, SubjectIdentifier } from './types.js';

const MAX_SERIAL_HEX = 128;
const MAX_TEXT = 1024;
/** Signals are stored once per event but indexed per identifier: both are bounded. */
const MAX_SIGNALS_BYTES = 4 * 1024;
const MAX_SUBJECT_KEYS = 64;
/** Any event but a CRL, as JSON: what one entry may add to every member's state. */
const MAX_EVENT_BYTES = 32 * 1024;
/** How long signals are kept when their event names no expiry. */
export const SIGNALS_LIFETIME_MS = 24 * 60 * 60 * 1000;
const MAX_CRL_BYTES = 16 * 1024 * 1024;
/** The latest epoch ms a Date can hold: "never expires" as a number both Lua and JS compare. */
export const MAX_TIME = 8_640_000_000_000_000;

/**
 * Serial numbers in one normal form: upper-case hex without colons, spaces or leading zeros ('0'
 * for zero), a negative one (RFC 5280 forbids them, yet CAs issued them and OpenSSL reads them)
 * keeping its '-'; undefined when not hex. Node's serialNumber ('-05'), a CRL's serial and a
 * caller's hex ('-00:05', '-0:5') of one certificate all read alike.
 */
export function normalizeSerial(serial: string): string | undefined {
  let compact = serial.replace(/\s/g, '').toUpperCase();
  const negative = compact.startsWith('-');
  if (negative) compact = compact.slice(1);
  // Colons separate bytes: a byte written with one digit ('67:0:5E', as some tools print) is that
  // byte, 0x00 here; dropping the colons alone would shift every digit after it into another serial.
  // A longer group must be whole bytes ('00:5E0A'); an odd one cannot be told apart, and is refused.
  if (compact.includes(':')) {
    const groups = compact.split(':');
    if (!groups.every((group) => group.length === 1 || (group.length > 0 && group.length % 2 === 0))) return undefined;
    compact = groups.map((group) => group.padStart(2, '0')).join('');
  }
  const hex = compact;
  if (hex.length === 0 || hex.length > MAX_SERIAL_HEX || !/^[0-9A-F]+$/.test(hex)) return undefined;
  const digits = hex.replace(/^0+(?=.)/, '');
  return negative && digits !== '0' ? `-${digits}` : digits;
}

/** One attribute of a name: its type (upper case) and its value, escapes decoded. */
type Attribute = [type: string, value: string];

/**
 * The canonical form of an issuer name, the one form every comparison of issuers uses (the
 * issuer of a certificate-revoked event, the issuer of a shared CRL, the issuer of each chain
 * certificate): one line per RDN, most general first; in a line the RDN's attributes sorted and
 * joined by '+', each `TYPE=value` with the type in upper case and the value escaped as RFC 4514
 * escapes it (`\,` `\+` `\"` `\;` `\<` `\>` `\=` `\\`, a leading '#' or space, a trailing space,
 * control characters as `\XX`). It reads:
 * - node's `X509Certificate#issuer` (one RDN per line, ' + ' inside one, RFC 4514 escapes),
 * - RFC 4514 / RFC 2253 one-line names ('CN=CA,O=Example': most specific first, as CRL facts carry them),
 * - OpenSSL's slash form ('/C=US/O=Example/CN=CA', values unescaped),
 * - OpenSSL's one-line form, what `openssl x509 -issuer` prints ('C = US, O = "Example, Inc.", CN = CA':
 *   most general first, ' = ' around each '=', a value holding a special character in quotes),
 * - and its own output unchanged: normalizeIssuer(normalizeIssuer(x)) === normalizeIssuer(x), so an
 *   issuer stored on the feed's snapshot reads exactly as one a live member normalises again.
 * Names are compared as strings, not as DER: a caller's revocation names its issuer as text, and
 * the text forms of a certificate and of a CRL decode to the same attributes.
 */
export function normalizeIssuer(issuer: string): string {
  return canonicalName(issuerRdns(issuer).rdns);
}

/**
 * normalizeIssuer() for an issuer a caller sends: also refuses (ERR_CTLS_FLEET_BAD_EVENT) a
 * comma-separated name that mixes the one-line form's ' = ' with RFC 2253's '=', as it could be
 * read in either order and a revocation read in the wrong one would deny nothing.
 */
export function checkedIssuer(issuer: string): string {
  const { rdns, ambiguous } = issuerRdns(issuer);
  if (ambiguous)
    throw badEvent(
      'issuer mixes "TYPE = value" (OpenSSL one-line, most general first) with "TYPE=value" (RFC 2253, most ' +
        'specific first): write it in one of the two forms',
    );
  return canonicalName(rdns);
}

/** OpenSSL's one-line form starts `TYPE = ` (a name or an OID, then ' = '). */
const ONE_LINE_START = /^[A-Za-z0-9.-]+ = /;

function issuerRdns(issuer: string): { rdns: Attribute[][]; ambiguous: boolean } {
  const text = issuer.replace(/^\s+/, '');
  let rdns: Attribute[][];
  let ambiguous = false;
  if (ONE_LINE_START.test(text) && !/\n/.test(trimEscaped(text))) {
    const parts = splitOutsideQuotes(text, ',').map((rdn) => splitOutsideQuotes(rdn, '+'));
    ambiguous = parts.some((rdn) => rdn.some((attribute) => !ONE_LINE_START.test(attribute.trim())));
    rdns = parts.map((rdn) => rdn.map(oneLineAttribute));
  } else if (text.startsWith('/')) {
    // The slash form escapes nothing: a new attribute starts only where a TYPE= follows.
    rdns = text
      .slice(1)
      .split(/\/(?=\s*[A-Za-z0-9.-]+\s*=)/)
      .map((rdn) => rdn.split(/\+(?=\s*[A-Za-z0-9.-]+\s*=)/).map(literalAttribute));
  } else if (/\n/.test(trimEscaped(text))) {
    rdns = text.split('\n').map((line) => splitUnescaped(line, '+').map(escapedAttribute));
  } else if (indexUnescaped(text, ',;') >= 0) {
    rdns = rfc2253Rdns(text);
    // A type followed by a space before its '=': the one-line form's spelling in an RFC 2253 name.
    ambiguous = splitUnescaped(text, ',;+').some(
      (attribute) => attribute.includes('=') && /\s$/.test(attribute.split('=', 1)[0]!),
    );
  } else {
    rdns = [splitUnescaped(text, '+').map(escapedAttribute)];
  }
  return { rdns, ambiguous };
}

/** `text` split at each of `char` that neither a backslash escapes nor double quotes enclose. */
function splitOutsideQuotes(text: string, char: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') quoted = !quoted;
    else if (!quoted && text[i] === char) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/**
 * An attribute of OpenSSL's one-line form (XN_FLAG_ONELINE): a value with a special character is
 * quoted (its '"' and '\\' escaped inside), a non-ASCII or control byte is `\XX`, '=' is not escaped.
 */
function oneLineAttribute(text: string): Attribute {
  const eq = text.indexOf('=');
  if (eq < 0) return ['', unescape(text)];
  const type = text.slice(0, eq).trim().toUpperCase();
  const value = text.slice(eq + 1).trim();
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"') && !escapedAt(value, value.length - 1))
    return [type, unescape(value.slice(1, -1), false)];
  return [type, unescape(value)];
}

/** An RFC 2253 name (OpenSSL's XN_FLAG_RFC2253, as CRL facts carry it) in normalizeIssuer()'s form. */
export function issuerFromRfc2253(name: string): string {
  return canonicalName(rfc2253Rdns(name));
}

function rfc2253Rdns(text: string): Attribute[][] {
  return splitUnescaped(text, ',;')
    .map((rdn) => splitUnescaped(rdn, '+').map(escapedAttribute))
    .reverse();
}

function canonicalName(rdns: Attribute[][]): string {
  return rdns
    .map((rdn) =>
      rdn
        .filter(([type, value]) => type !== '' || value !== '')
        .map(([type, value]) => `${escapeValue(type)}=${escapeValue(value)}`)
        .sort()
        .join('+'),
    )
    .filter((line) => line !== '')
    .join('\n');
}

function literalAttribute(text: string): Attribute {
  const eq = text.indexOf('=');
  if (eq < 0) return ['', text.trim()];
  return [text.slice(0, eq).trim().toUpperCase(), text.slice(eq + 1).trim()];
}

function escapedAttribute(text: string): Attribute {
  const eq = indexUnescaped(text, '=');
  if (eq < 0) return ['', unescape(text)];
  return [unescape(text.slice(0, eq)).toUpperCase(), unescape(text.slice(eq + 1))];
}

/** The index of the first of `chars` not escaped by a backslash, or -1. */
function indexUnescaped(text: string, chars: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (chars.includes(text[i]!)) return i;
  }
  return -1;
}

function splitUnescaped(text: string, chars: string): string[] {
  const parts: string[] = [];
  let rest = text;
  for (let at = indexUnescaped(rest, chars); at >= 0; at = indexUnescaped(rest, chars)) {
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  parts.push(rest);
  return parts;
}

/** `text` without whitespace at its end that no backslash escapes. */
function trimEscaped(text: string): string {
  let end = text.length;
  while (end > 0 && /\s/.test(text[end - 1]!) && !escapedAt(text, end - 1)) end--;
  return text.slice(0, end);
}

function escapedAt(text: string, index: number): boolean {
  let slashes = 0;
  for (let i = index - 1; i >= 0 && text[i] === '\\'; i--) slashes++;
  return slashes % 2 === 1;
}

/**
 * An RFC 4514 value decoded: `\c` is c, `\XX` one byte of a UTF-8 sequence (how RFC 2253 escapes
 * non-ASCII and control characters); whitespace that no backslash escapes is dropped at both ends
 * unless `trim` is false (a quoted value keeps its spaces).
 */
function unescape(text: string, trim = true): string {
  const pieces: Array<{ text: string; escaped: boolean }> = [];
  let bytes: number[] = [];
  const flush = (): void => {
    if (bytes.length > 0) pieces.push({ text: Buffer.from(bytes).toString('utf8'), escaped: true });
    bytes = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const hex = c === '\\' ? /^[0-9A-Fa-f]{2}/.exec(text.slice(i + 1, i + 3)) : null;
    if (hex !== null) {
      bytes.push(parseInt(hex[0], 16));
      i += 2;
      continue;
    }
    flush();
    if (c === '\\' && i + 1 < text.length) {
      const next = text.codePointAt(i + 1)!;
      const char = String.fromCodePoint(next);
      pieces.push({ text: char, escaped: true });
      i += char.length;
    } else pieces.push({ text: c, escaped: false });
  }
  flush();
  let start = 0;
  let end = pieces.length;
  while (trim && start < end && !pieces[start]!.escaped && /^\s$/.test(pieces[start]!.text)) start++;
  while (trim && end > start && !pieces[end - 1]!.escaped && /^\s$/.test(pieces[end - 1]!.text)) end--;
  return pieces
    .slice(start, end)
    .map((piece) => piece.text)
    .join('');
}

/** A value escaped for the canonical form: unescape() reads it back unchanged. */
function escapeValue(value: string): string {
  const chars = [...value];
  return chars
    .map((c, i) => {
      const code = c.codePointAt(0)!;
      if (code < 0x20 || code === 0x7f) return `\\${code.toString(16).toUpperCase().padStart(2, '0')}`;
      if ('\\,+"<>;='.includes(c)) return `\\${c}`;
      if ((i === 0 || i === chars.length - 1) && /^\s$/.test(c)) return `\\${c}`;
      // A leading '#' would read as BER in RFC 4514, a leading '/' as OpenSSL's slash form.
      if (i === 0 && (c === '#' || c === '/')) return `\\${c}`;
      return c;
    })
    .join('');
}

/** `event`, when its JSON fits MAX_EVENT_BYTES (a CRL is bounded by MAX_CRL_BYTES instead). */
function sized(event: FleetEvent): FleetEvent {
  if (Buffer.byteLength(JSON.stringify(event)) > MAX_EVENT_BYTES)
    throw badEvent(`the event is larger than ${MAX_EVENT_BYTES} bytes`);
  return event;
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

function subjectOf(e: Record<string, unknown>, use: SubjectUse): SubjectIdentifier {
  // Every identifier of a subject is a state entry on every member: an alias list is bounded.
  if (subjectKeys(e['subject'], use).length > MAX_SUBJECT_KEYS)
    throw badEvent(`a subject may name at most ${MAX_SUBJECT_KEYS} identifiers`);
  // A JSON round trip keeps only data: no getters, prototypes or undefined members reach the feed.
  return JSON.parse(JSON.stringify(e['subject'])) as SubjectIdentifier;
}

/** A CRL of a shared bundle: its issuer in normalizeIssuer()'s form and which of the issuer's CRLs it is. */
export interface SharedCrlBlock {
  pem: string;
  issuer: string;
  /**
   * The CRL's identity among the issuer's current CRLs (RFC 5280 section 5.2.5, 5.2.1): its
   * issuingDistributionPoint (one shard of a partitioned CRL) and authorityKeyIdentifier (the key
   * that signed it, several across a key rollover under one name), '' when it has neither.
   */
  identity: string;
  lastUpdate: number;
}

/** One CRL per PEM block, each parsed; throws ERR_CTLS_BAD_PEM when any block does not parse. */
export function splitCrls(pem: string | Buffer): SharedCrlBlock[] {
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
    // Read as node prints a certificate's issuer: RFC 2253 would dump an attribute of a type OpenSSL
    // has no name for as #hex, which no certificate's issuer reads as.
    const identity =
      first.distributionPoint === null && first.authorityKeyId === null
        ? ''
        : `idp:${first.distributionPoint ?? ''}/aki:${first.authorityKeyId ?? ''}`;
    return { pem: `${block}\n`, issuer: normalizeIssuer(first.issuerText), identity, lastUpdate: first.lastUpdate };
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
      const normal = issuer === undefined ? '' : checkedIssuer(issuer);
      if (normal !== '') out.issuer = normal;
      const reason = optionalText(e, 'reason');
      if (reason !== undefined) out.reason = reason;
      const expiresAt = optionalTime(e, 'expiresAt');
      if (expiresAt !== undefined) out.expiresAt = expiresAt;
      return sized(out);
    }
    case 'crl': {
      if (typeof e['pem'] !== 'string') throw badEvent('a crl event needs its pem as a string');
      splitCrls(e['pem']);
      return { type: 'crl', pem: e['pem'] };
    }
    case 'subject-revoked': {
      // A complex subject's parts in formats not known here are skipped (see SubjectUse).
      const subject = subjectOf(e, 'revocation');
      const before = optionalTime(e, 'before');
      if (before === undefined) throw badEvent('subject-revoked needs before (epoch ms)');
      const out: FleetEvent = { type: 'subject-revoked', subject, before };
      const reason = optionalText(e, 'reason');
      if (reason !== undefined) out.reason = reason;
      const expiresAt = optionalTime(e, 'expiresAt');
      if (expiresAt !== undefined) out.expiresAt = expiresAt;
      return sized(out);
    }
    case 'signals': {
      // Signals may admit: a complex subject with a part not known here is refused, not widened.
      const subject = subjectOf(e, 'exact');
      const signals = e['signals'];
      if (signals === null || typeof signals !== 'object' || Array.isArray(signals))
        throw badEvent('signals must be an object');
      let json: string;
      try {
        json = JSON.stringify(signals);
      } catch {
        throw badEvent('signals must be JSON data');
      }
      if (Buffer.byteLength(json) > MAX_SIGNALS_BYTES)
        throw badEvent(`signals are larger than ${MAX_SIGNALS_BYTES} bytes`);
      // The default is fixed here, at publication: every member reads the same `at` from the feed.
      const at = optionalTime(e, 'at') ?? Date.now();
      const expiresAt = optionalTime(e, 'expiresAt') ?? at + SIGNALS_LIFETIME_MS;
      return sized({ type: 'signals', subject, signals: JSON.parse(json) as Record<string, unknown>, at, expiresAt });
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
 * value starts with is at least the one already there; `expire` (field and value empty) deletes
 * some fields of the hash whose expiry (expiryOf()), an epoch ms, has passed: each step of the
 * feed's script scans a bounded slice of the hash, a member prunes its copy now and then. The feed's
 * publish script and every member apply the same operations, so a member's state is always the
 * snapshot's at the same entry, but for expired fields nobody reads any more.
 */
export interface StateOp {
  hash: StateHash;
  field: string;
  value: string;
  rule: 'set' | 'max' | 'expire';
}

/**
 * The state operations of a checked event.
 * - serials: field serial|issuer, value `expiresAt` newline JSON [serial, issuer?]: the longest-lived
 *   revocation of a serial under an issuer, so a later one with a nearer expiry never shortens it
 * - subjects: field JSON [key, expiresAt|null], value `before`: the latest `before` per key and expiry,
 *   so a later revocation with another expiry never shortens an earlier one
 * - signals: the event's signals once, field `=digest`, value `at` newline `expiresAt` newline JSON;
 *   per key and signal name a reference, field JSON [key, name], value `at` newline `expiresAt`
 *   newline digest, kept by `max`: a signal issued earlier never replaces one issued later
 * - crls: field JSON [issuer, identity] (see SharedCrlBlock), value `lastUpdate` newline PEM: the
 *   latest CRL per issuer and identity, so the shards of a partitioned CRL, and the CRLs of an
 *   issuer's old and new keys, are all kept and each denies what it lists
 * A revocation or signals event then ends with an `expire` step on each hash whose fields expire
 * (EXPIRING_HASHES), so that no entry outlives its expiry for long, whatever events follow it.
 */
export function stateOps(event: FleetEvent): StateOp[] {
  switch (event.type) {
    case 'certificate-revoked': {
      const value = JSON.stringify(event.issuer === undefined ? [event.serial] : [event.serial, event.issuer]);
      const field = `${event.serial}|${event.issuer ?? ''}`;
      return [
        { hash: 'serials', field, value: `${event.expiresAt ?? MAX_TIME}\n${value}`, rule: 'max' },
        ...expireSteps(),
      ];
    }
    case 'subject-revoked':
      return [
        ...subjectKeys(event.subject, 'revocation').map((key): StateOp => ({
          hash: 'subjects',
          field: JSON.stringify([key, event.expiresAt ?? null]),
          value: String(event.before),
          rule: 'max',
        })),
        ...expireSteps(),
      ];
    case 'signals': {
      // checkEvent() sets both; an event built by hand without them is timed as of now.
      const at = event.at ?? Date.now();
      const expiresAt = event.expiresAt ?? at + SIGNALS_LIFETIME_MS;
      const stored = `${at}\n${expiresAt}\n${JSON.stringify(event.signals)}`;
      const digest = createHash('sha256').update(stored).digest('base64url').slice(0, 22);
      const ops: StateOp[] = [{ hash: 'signals', field: `=${digest}`, value: stored, rule: 'set' }];
      for (const key of subjectKeys(event.subject, 'exact'))
        for (const name of Object.keys(event.signals))
          ops.push({
            hash: 'signals',
            field: JSON.stringify([key, name]),
            value: `${at}\n${expiresAt}\n${digest}`,
            rule: 'max',
          });
      ops.push(...expireSteps());
      return ops;
    }
    case 'crl':
      return splitCrls(event.pem).map((crl) => ({
        hash: 'crls',
        field: crlField(crl.issuer, crl.identity),
        value: `${crl.lastUpdate}\n${crl.pem}`,
        rule: 'max',
      }));
    case 'policy-invalidated':
      return [];
  }
}

/** The hashes whose fields expire (see expiryOf()); a CRL is replaced by a later one instead. */
export const EXPIRING_HASHES: readonly StateHash[] = ['serials', 'subjects', 'signals'];

function expireSteps(): StateOp[] {
  return EXPIRING_HASHES.map((hash) => ({ hash, field: '', value: '', rule: 'expire' }));
}

/**
 * The epoch ms after which a state field holds no more and may be forgotten; NaN for one that never
 * expires (a CRL, a subject revocation without expiresAt, a field that does not read as stateOps()
 * writes it). A serial revoked without expiresAt holds until MAX_TIME. The feed's publish script
 * reads the same numbers.
 */
export function expiryOf(hash: StateHash, field: string, value: string): number {
  switch (hash) {
    case 'serials':
      return leadingNumber(value);
    case 'subjects': {
      try {
        const expiresAt = (JSON.parse(field) as unknown[])[1];
        return typeof expiresAt === 'number' ? expiresAt : NaN;
      } catch {
        return NaN;
      }
    }
    case 'signals':
      return secondNumber(value);
    case 'crls':
      return NaN;
  }
}

/** The crls field of a CRL: an identity-less CRL keeps the plain issuer field. */
export function crlField(issuer: string, identity: string): string {
  return identity === '' ? issuer : JSON.stringify([issuer, identity]);
}

/** The issuer and identity a crls field names (a plain issuer: no identity). */
export function parseCrlField(field: string): { issuer: string; identity: string } {
  if (field.startsWith('["')) {
    try {
      const [issuer, identity] = JSON.parse(field) as unknown[];
      if (typeof issuer === 'string' && typeof identity === 'string') return { issuer, identity };
    } catch {
      // Not JSON: an issuer that starts so.
    }
  }
  return { issuer: field, identity: '' };
}

/** The number a `max` value starts with (NaN when there is none). */
export function leadingNumber(value: string): number {
  const end = value.indexOf('\n');
  return Number(end < 0 ? value : value.slice(0, end));
}

/** The expiry an `expire` step reads: the number on a value's second line (NaN when there is none). */
export function secondNumber(value: string): number {
  const start = value.indexOf('\n');
  return start < 0 ? NaN : leadingNumber(value.slice(start + 1));
}

/** The index keys an event affects: what a watched host re-decides. */
export function affectedKeys(event: FleetEvent): string[] {
  switch (event.type) {
    case 'certificate-revoked':
      return [`serial:${event.serial}`];
    case 'subject-revoked':
      return subjectKeys(event.subject, 'revocation');
    case 'signals':
      return subjectKeys(event.subject, 'exact');
    default:
      return [];
  }
}
