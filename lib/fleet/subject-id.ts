/**
 * Subject identifiers (RFC 9493) and the index keys they match under. A revocation or a signal
 * names its subject in one of these formats; a connection or request is matched through the keys
 * of the identifiers it carries (by default: the certificate's email and URI SANs, the token's
 * `iss`+`sub` and `email`).
 *
 * Matching errs towards cutting: email addresses compare case-insensitively, in Unicode NFC and
 * with their domain in its ASCII (A-label) form, URIs under RFC 3986's case rules (scheme, host and
 * percent-encodings), and a `complex` subject (CAEP) matches each of its
 * parts (its user, its device, its session …), so revoking "user U's session S" cuts every peer
 * identified as U when S itself cannot be seen on the wire.
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
 * The index keys of `subject`; throws ERR_CTLS_BAD_SUBJECT for anything that is not a well-formed
 * identifier (an unknown format, a missing or non-string member, a value too long).
 */
export function subjectKeys(subject: unknown, depth = 0): string[] {
  if (depth > MAX_DEPTH) throw badSubject('nested too deeply');
  if (subject === null || typeof subject !== 'object' || Array.isArray(subject))
    throw badSubject('a subject identifier must be an object with a format');
  const s = subject as Record<string, unknown>;
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
      return unique(list.flatMap((item) => subjectKeys(item, depth + 1)));
    }
    case 'complex': {
      const keys: string[] = [];
      for (const part of COMPLEX_PARTS) if (s[part] !== undefined) keys.push(...subjectKeys(s[part], depth + 1));
      if (keys.length === 0) throw badSubject('a complex subject needs at least one member');
      return unique(keys);
    }
    default:
      throw badSubject(`unknown format ${JSON.stringify(String(s['format'])).slice(0, 80)}`);
  }
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
  const domain = email.slice(at + 1);
  const ascii = domain === '' ? '' : domainToASCII(domain.normalize('NFC'));
  return `email:${foldedText(email.slice(0, at))}@${ascii === '' ? foldedText(domain) : asciiLower(ascii)}`;
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

/** `text` with the ASCII letters A-Z in lower case and every other character as it is. */
/** scheme ":" [ "//" authority ] rest (RFC 3986, section 3). */
const URI_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*):(?:\/\/([^/?#]*))?(.*)$/s;

/**
 * The key of a URI: its scheme and host in lower case and its percent-encodings in upper case,
 * which RFC 3986 (section 6.2.2.1) makes the same URI, so an identity provider that spells
 * `https://Workloads.Example.com/…` and a certificate that spells it in lower case match. The
 * userinfo, path, query and fragment keep their case. Text that is not a URI is kept as it is.
 */
export function uriKey(uri: string): string {
  const parts = URI_PARTS.exec(uri);
  if (parts === null) return `uri:${uri}`;
  const [, scheme, authority, rest] = parts as unknown as [string, string, string | undefined, string];
  let out = `${asciiLower(scheme)}:`;
  if (authority !== undefined) {
    const at = authority.lastIndexOf('@');
    out += `//${authority.slice(0, at + 1)}${asciiLower(authority.slice(at + 1))}`;
  }
  return `uri:${(out + rest).replace(/%[0-9a-fA-F]{2}/g, (escape) => escape.toUpperCase())}`;
}

function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
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
