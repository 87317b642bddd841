/**
 * Subject identifiers (RFC 9493) and the index keys they match under. A revocation or a signal
 * names its subject in one of these formats; a connection or request is matched through the keys
 * of the identifiers it carries (by default: the certificate's email and URI SANs, the token's
 * `iss`+`sub` and `email`).
 *
 * Matching errs towards cutting: email addresses compare case-insensitively, in Unicode NFC and
 * with their domain in its ASCII (A-label) form, URIs under RFC 3986's normalisations (case of the
 * scheme and host, the host as an A-label, percent-encodings, the scheme's default port), and a
 * `complex` subject (CAEP) matches each of its parts (its user, its device, its session …), so
 * revoking "user U's session S" cuts every peer identified as U when S itself cannot be seen on the
 * wire. Both sides go through these functions: the subject an event names (subjectKeys()) and the
 * identifiers of a live peer (defaultIdentifiers(), or subjectKeys() of what a mapper returns).
 */
import type { X509Certificate } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { ctlsError } from '../common/errors.js';

/** An RFC 9493 subject identifier, or a CAEP complex subject built of them. */
export type SubjectIdentifier =
  | { format: 'email'; email: string }
  | { format: 'iss_sub'; iss: string; sub: string }
  | { format: 'opaque'; id: string }
  | { format: 'uri'; uri: string }
  | { format: 'account'; uri: string }
  | { format: 'phone_number'; phone_number: string }
  | { format: 'did'; url: string }
  | { format: 'aliases'; identifiers: SubjectIdentifier[] }
  | ComplexSubject;

/** A CAEP complex subject: its parts, each a simple identifier. */
export interface ComplexSubject {
  format: 'complex';
  user?: SubjectIdentifier;
  device?: SubjectIdentifier;
  session?: SubjectIdentifier;
  application?: SubjectIdentifier;
  tenant?: SubjectIdentifier;
  org_unit?: SubjectIdentifier;
  group?: SubjectIdentifier;
}

/** The members a CAEP `complex` subject may have (SSF 1.0 §3.3). */
export type ComplexPart = 'user' | 'device' | 'session' | 'application' | 'tenant' | 'org_unit' | 'group';
const COMPLEX_PARTS: readonly ComplexPart[] = [
  'user',
  'device',
  'session',
  'application',
  'tenant',
  'org_unit',
  'group',
];

/** Where an identifier of a peer came from: a subject revocation's `before` compares with its session start. */
export type IdentifierSource = 'certificate' | 'token';

const MAX_IDENTIFIER_CHARS = 2048;
const MAX_DEPTH = 4;

/**
 * What a subject's keys are for, which decides what a part in a format this library does not know
 * (SSF 1.0's `jwt_id`, `saml_assertion_id`, a newer one) does to a `complex` subject:
 * - 'revocation': the part is skipped and the subject matches through the parts that are read. A
 *   complex subject matches every peer any of its parts identifies, so fewer parts cut a superset of
 *   the peers meant (revoking "U's session S" cuts U's sessions): refusing the event instead would
 *   leave all of them standing.
 * - 'exact' (signals) and 'peer' (a mapper's identifiers of a live peer): the subject is refused.
 *   Signals can admit (a compliant device, a higher assurance level), and a signal meant for "U's
 *   session S" applied to all of U would grant more than the transmitter said; a mapper's
 *   identifier that cannot be keyed denies its peer (guard-error) rather than passing unmatched.
 * Either way an `aliases` entry in an unknown format is skipped: aliases name one subject, and a key
 * no peer can carry matches nothing, so skipping it neither narrows nor widens.
 *
 * A complex subject of two parts or more means the peer that is all of them at once ("U on device
 * D"), so its signals are filed under one key that names every part (complexKey()), which only a
 * peer identified by the same parts carries; filed under each part, a signal about U's laptop
 * would reach U on any device. A member name outside SSF's list is refused there too. Revocations
 * still match each part (a superset of the peers meant), and a peer's own complex identifier
 * ('peer', from an app's mapper) carries its parts' keys and the combined one.
 */
export type SubjectUse = 'revocation' | 'exact' | 'peer';

/**
 * The index keys of `subject`; throws ERR_CTLS_BAD_SUBJECT for anything that is not a well-formed
 * identifier (an unknown format, a missing or non-string member, a value too long, a complex subject
 * or alias list with no member that can be read; a complex subject with an unknown part unless `use`
 * is 'revocation', see SubjectUse).
 */
export function subjectKeys(subject: unknown, use: SubjectUse = 'exact'): string[] {
  const keys = keysOf(subject, use, 0);
  if (keys !== undefined) return keys;
  const format = (subject as Record<string, unknown>)['format'];
  throw badSubject(
    format === 'aliases' || format === 'complex'
      ? `${format} needs at least one member in a known format`
      : `unknown format ${formatName(subject)}`,
  );
}

/**
 * The keys of `subject`, or undefined when none of it can be read: a format this library does not
 * know, or an alias list or complex subject with no member in a known one (nested in a complex
 * subject, a part like any other in an unknown format).
 */
function keysOf(subject: unknown, use: SubjectUse, depth: number): string[] | undefined {
  if (depth > MAX_DEPTH) throw badSubject('nested too deeply');
  if (subject === null || typeof subject !== 'object' || Array.isArray(subject))
    throw badSubject('a subject identifier must be an object with a format');
  const s = subject as Record<string, unknown>;
  if (typeof s['format'] !== 'string') throw badSubject('a subject identifier needs a string format');
  switch (s['format']) {
    case 'email':
      return [emailKey(member(s, 'email'))];
    case 'iss_sub':
      return [issSubKey(member(s, 'iss'), member(s, 'sub'))];
    case 'opaque':
      return [`opaque:${member(s, 'id')}`];
    case 'uri':
      return [uriKey(member(s, 'uri'))];
    case 'account':
      return [`account:${asciiLower(member(s, 'uri'))}`];
    case 'phone_number':
      return [`phone:${member(s, 'phone_number')}`];
    case 'did':
      return [`did:${member(s, 'url')}`];
    case 'aliases': {
      const list = s['identifiers'];
      if (!Array.isArray(list) || list.length === 0) throw badSubject('aliases needs a non-empty identifiers array');
      const keys: string[] = [];
      for (const item of list) keys.push(...(keysOf(item, use, depth + 1) ?? []));
      return keys.length === 0 ? undefined : unique(keys);
    }
    case 'complex': {
      const keys: string[] = [];
      const unknown: string[] = [];
      const parts: Array<[ComplexPart, string[]]> = [];
      for (const part of COMPLEX_PARTS) {
        if (s[part] === undefined) continue;
        const found = keysOf(s[part], use === 'revocation' ? 'revocation' : 'exact', depth + 1);
        if (found === undefined) unknown.push(`${part} (${formatName(s[part])})`);
        else {
          keys.push(...found);
          parts.push([part, found]);
        }
      }
      if (use === 'revocation') return keys.length === 0 ? undefined : unique(keys);
      const strange = Object.keys(s).filter((name) => name !== 'format' && !(COMPLEX_PARTS as string[]).includes(name));
      for (const name of strange) unknown.push(`member ${JSON.stringify(name).slice(0, 40)}`);
      if (unknown.length > 0) throw badSubject(`a complex subject's ${unknown.join(', ')} is in an unknown format`);
      if (parts.length < 2) return keys.length === 0 ? undefined : unique(keys);
      const combined = complexKey(parts);
      if (use === 'exact') {
        if (combined === undefined) throw badSubject('a complex subject whose part is a list of aliases');
        return [combined];
      }
      // A peer's: each part's keys (revocations of any part reach it) and, when it can be spelled,
      // the combined key (signals about this very combination).
      return unique(combined === undefined ? keys : [...keys, combined]);
    }
    default:
      return undefined;
  }
}

/**
 * The one key of a complex subject's combination of parts, in SSF's order of parts; undefined when
 * a part has more than one key (a list of aliases), which no single combination spells.
 */
function complexKey(parts: ReadonlyArray<[ComplexPart, string[]]>): string | undefined {
  if (parts.some(([, keys]) => keys.length !== 1)) return undefined;
  return `complex:${JSON.stringify(parts.map(([part, keys]) => [part, keys[0]]))}`;
}

function formatName(subject: unknown): string {
  const format = (subject as Record<string, unknown> | null)?.['format'];
  return JSON.stringify(String(format)).slice(0, 80);
}

/**
 * The key of an email address: NFC, ASCII letters in lower case, and its domain as
 * url.domainToASCII() spells it, so `alice@bücher.example` (in any normalisation form or case) and
 * the IA5 spelling a certificate's SAN holds, `alice@xn--bcher-kva.example`, are one mailbox. A
 * domain that is no valid IDN keeps its spelling as the local part does.
 *
 * Only ASCII is folded: String#toLowerCase() also maps other characters onto ASCII ones, and so
 * does NFC for the Kelvin sign U+212A (its canonical decomposition is 'K'); either would give
 * `\u212Aate@example.com` the key of `kate@example.com`. The Kelvin sign is the one character NFC
 * turns into an ASCII letter, so it is kept as it is and NFC applies around it.
 */
export function emailKey(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 0) return `email:${foldedText(email)}`;
  return `email:${foldedText(email.slice(0, at))}@${domainKey(email.slice(at + 1))}`;
}

/**
 * A domain (an email's, a URI's host) as url.domainToASCII() spells its NFC form: A-labels, lower
 * case, percent-encoded UTF-8 decoded, an IP literal in its canonical text. One that is no valid
 * host keeps its spelling, in NFC with its ASCII letters in lower case.
 */
function domainKey(domain: string): string {
  const ascii = domain === '' ? '' : domainToASCII(domain.normalize('NFC'));
  return ascii === '' ? foldedText(domain) : asciiLower(ascii);
}

const KELVIN_SIGN = '\u212A';

/** `text` in NFC (but for the Kelvin sign, see emailKey()) with its ASCII letters in lower case. */
function foldedText(text: string): string {
  return asciiLower(
    text
      .split(KELVIN_SIGN)
      .map((part) => part.normalize('NFC'))
      .join(KELVIN_SIGN),
  );
}

/** scheme ":" [ "//" authority ] rest (RFC 3986, section 3). */
const URI_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*):(?:\/\/([^/?#]*))?(.*)$/s;

/** host [ ":" port ], the host an IP literal in brackets or anything without a colon. */
const HOST_PORT = /^(\[[^\]]*\]|[^:]*)(?::([0-9]*))?$/;

/** The ports RFC 3986 section 6.2.3 drops: a scheme's default. */
const DEFAULT_PORTS: ReadonlyMap<string, string> = new Map([
  ['http', '80'],
  ['https', '443'],
  ['ws', '80'],
  ['wss', '443'],
]);

/** The unreserved characters (RFC 3986, section 2.3). */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * The key of a URI under the normalisations RFC 3986 (section 6.2.2, 6.2.3) says keep it the same
 * URI, so an identity provider's spelling and a certificate's match:
 * - a percent-encoded unreserved character is decoded (`%7Ealice` is `~alice`), any other escape
 *   keeps its hex in upper case; decoding first cannot move a component's bounds, as no unreserved
 *   character delimits one;
 * - the scheme in lower case;
 * - the host as an email's domain is keyed (domainKey()): `spiffe://bücher.example`, in any
 *   normalisation form or case, is the `spiffe://xn--bcher-kva.example` an IA5String SAN can hold;
 * - an empty port, or the scheme's default (http and ws 80, https and wss 443), dropped; a port's
 *   leading zeros too; for those schemes an empty path is '/';
 * - a '%' that starts no escape is written '%25', so keying a key again leaves it as it is.
 * The userinfo, path, query and fragment keep their case. Text that is not a URI is kept as it is.
 */
export function uriKey(uri: string): string {
  const decoded = uri.replace(/%([0-9a-fA-F]{2})|%/g, (escape: string, hex: string | undefined) => {
    // A '%' that starts no escape is spelled as one ('%25'): decoding what follows it could
    // otherwise make one ('%%37E' would read '%7E'), and keying the key again would change it.
    if (hex === undefined) return '%25';
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : escape.toUpperCase();
  });
  // Whether it is a URI is read from the text as given: decoding first would make one of `%68ttp:…`.
  const parts = URI_PARTS.test(uri) ? URI_PARTS.exec(decoded) : null;
  if (parts === null) return `uri:${uri}`;
  const [, scheme, authority, rest] = parts as unknown as [string, string, string | undefined, string];
  const lowerScheme = asciiLower(scheme);
  let out = `${lowerScheme}:`;
  if (authority !== undefined) {
    const at = authority.lastIndexOf('@');
    const hostPort = authority.slice(at + 1);
    const split = HOST_PORT.exec(hostPort);
    let host = hostPort;
    let port = '';
    if (split !== null) {
      host = split[1] as string;
      const digits = (split[2] ?? '').replace(/^0+(?=[0-9])/, '');
      if (digits !== '' && digits !== DEFAULT_PORTS.get(lowerScheme)) port = `:${digits}`;
    }
    out += `//${authority.slice(0, at + 1)}${split === null ? asciiLower(host) : domainKey(host)}${port}`;
    // An empty path is '/' for these schemes (RFC 3986 section 6.2.3): `https://h` is `https://h/`.
    if (DEFAULT_PORTS.has(lowerScheme) && (rest === '' || rest.startsWith('?') || rest.startsWith('#')))
      return `uri:${out}/${rest}`;
  }
  return `uri:${out}${rest}`;
}

/** `text` with the ASCII letters A-Z in lower case and every other character as it is. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}

/**
 * A key as this version's normal forms spell it: an email or URI key read back from a snapshot
 * (written by a member whose normal forms were older) keyed again, so that it still meets the keys
 * of live peers. Every normal form is idempotent, so a key of this version is kept as it is.
 */
export function normalKey(key: string): string {
  if (key.startsWith('uri:')) return uriKey(key.slice('uri:'.length));
  if (key.startsWith('email:')) return emailKey(key.slice('email:'.length));
  return key;
}

export function issSubKey(iss: string, sub: string): string {
  // Length-prefixed: no issuer and subject pair spells another pair's key.
  return `iss_sub:${iss.length}:${iss}|${sub}`;
}

/** Identifiers a peer carries, each with the credential it came from. */
export interface PeerIdentifier {
  key: string;
  source: IdentifierSource;
}

/**
 * The default identifiers of a peer: the leaf certificate's email and URI SANs (a SPIFFE ID is a
 * URI SAN), the token's `iss`+`sub` and its `email` claim.
 */
export function defaultIdentifiers(
  leaf: X509Certificate | undefined,
  token: Readonly<Record<string, unknown>> | undefined,
): PeerIdentifier[] {
  const out: PeerIdentifier[] = [];
  if (leaf !== undefined) {
    for (const { kind, value } of sanEntries(leaf.subjectAltName)) {
      if (kind === 'email') out.push({ key: emailKey(value), source: 'certificate' });
      else if (kind === 'URI') out.push({ key: uriKey(value), source: 'certificate' });
    }
  }
  if (token !== undefined) {
    const { iss, sub, email } = token;
    if (typeof iss === 'string' && typeof sub === 'string') out.push({ key: issSubKey(iss, sub), source: 'token' });
    if (typeof email === 'string') out.push({ key: emailKey(email), source: 'token' });
  }
  return out;
}

/**
 * Parses node's subjectAltName string ("DNS:a, email:b, URI:c"). Node quotes an entry whose value
 * holds a comma, quote or control character as a JSON string (`URI:"a,b"`), so a value can never
 * be split into two entries or smuggle one in.
 */
export function sanEntries(san: string | undefined): Array<{ kind: string; value: string }> {
  const entries: Array<{ kind: string; value: string }> = [];
  if (san === undefined || san === '') return entries;
  let i = 0;
  while (i < san.length) {
    const colon = san.indexOf(':', i);
    if (colon < 0) break;
    const kind = san.slice(i, colon);
    let value: string;
    let next: number;
    if (san[colon + 1] === '"') {
      // A JSON string: find its closing quote, skipping escapes.
      let j = colon + 2;
      while (j < san.length && san[j] !== '"') j += san[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(san.slice(colon + 1, j + 1)) as string;
      } catch {
        break;
      }
      next = j + 1;
    } else {
      const comma = san.indexOf(', ', colon + 1);
      next = comma < 0 ? san.length : comma;
      value = san.slice(colon + 1, next);
    }
    entries.push({ kind, value });
    if (san.startsWith(', ', next)) next += 2;
    i = next;
  }
  return entries;
}

function member(s: Record<string, unknown>, name: string): string {
  const value = s[name];
  if (typeof value !== 'string' || value.length === 0)
    throw badSubject(`format ${String(s['format'])} needs a non-empty string ${name}`);
  if (value.length > MAX_IDENTIFIER_CHARS)
    throw badSubject(`${name} is longer than ${MAX_IDENTIFIER_CHARS} characters`);
  return value;
}

function unique(keys: string[]): string[] {
  return [...new Set(keys)];
}

function badSubject(detail: string): Error {
  return ctlsError('ERR_CTLS_BAD_SUBJECT', `Invalid subject identifier (RFC 9493): ${detail}`);
}
