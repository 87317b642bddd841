/**
 * The default view of an AuthorizationInput that every policy adapter shares: who (subject), what
 * (action), on what (resource), and the surrounding facts (context). Cedar, AuthZEN, OPA and the
 * decision cache all derive their defaults from here, so the same input means the same request
 * everywhere — the embedded Cedar engine and the `continuous-tls pdp` endpoint must agree.
 */
import type { X509Certificate } from 'node:crypto';
import { setOwn } from '../common/own.js';
import type { AuthorizationInput } from '../common/types.js';

/** The subject's CN, e.g. 'alice' from 'O=Example\nCN=alice' (node prints one RDN per line). */
export function commonName(cert: X509Certificate | undefined): string | undefined {
  if (cert === undefined) return undefined;
  const subject = cert.subject;
  // The last CN wins, as in OpenSSL's X509_NAME_get_index_by_NID scans used for host checks.
  let found: string | undefined;
  for (const line of subject.split('\n')) {
    if (line.startsWith('CN=')) found = line.slice(3);
  }
  return found;
}

/** The token's `sub` claim when it is a non-empty string. */
export function tokenSubject(input: AuthorizationInput): string | undefined {
  const sub = input.token?.['sub'];
  return typeof sub === 'string' && sub !== '' ? sub : undefined;
}

/** Who is asking: the certificate subject CN, else the token `sub`, else 'anonymous'. */
export function subjectId(input: AuthorizationInput): string {
  return commonName(input.peer.certificate) ?? tokenSubject(input) ?? 'anonymous';
}

/** What is asked: `input.action`, else the HTTP method, else the trigger ('handshake', 'interval' …). */
export function actionName(input: AuthorizationInput): string {
  return input.action ?? input.request?.method ?? input.trigger;
}

/** On what: `input.resource`, else the request path, else 'connection' (a connection-level decision). */
export function resourceId(input: AuthorizationInput): string {
  return input.resource ?? input.request?.path ?? 'connection';
}

/** Epoch ms of the certificate's notAfter. */
export function notAfter(cert: X509Certificate): number {
  return Date.parse(cert.validTo);
}

/** The certificate facts a policy may look at, as plain JSON. */
export function certificateFacts(cert: X509Certificate): Record<string, unknown> {
  const facts: Record<string, unknown> = {
    fingerprint: cert.fingerprint256,
    serial: cert.serialNumber,
    issuer: cert.issuer,
    // Whole seconds: Cedar has no floats and X.509 times have no sub-second part anyway.
    notAfter: Math.floor(notAfter(cert) / 1000),
  };
  const cn = commonName(cert);
  if (cn !== undefined) facts['subject'] = cn;
  if (cert.subjectAltName !== undefined) facts['altNames'] = cert.subjectAltName.split(', ');
  return facts;
}

/**
 * The default context: the app's signals (`input.context`) flattened at the top level, then the
 * library's own facts, which win on a name clash so app code cannot mask the trigger or identity:
 *
 * | key            | from                                   |
 * |----------------|----------------------------------------|
 * | trigger        | input.trigger                          |
 * | verified       | input.peer.verified                    |
 * | reauthCount    | input.connection.reauthCount           |
 * | ageMs          | input.connection.ageMs (integer)       |
 * | protocol       | input.connection.protocol, if any      |
 * | remoteAddress  | input.connection.remoteAddress, if any |
 * | servername     | input.connection.servername, if a name |
 * | method, path   | input.request, if any                  |
 * | certificate    | certificateFacts(leaf), if any         |
 * | token          | the verified token claims, if any      |
 *
 * Absent facts are left out rather than set to null (Cedar has no null: test with `context has x`).
 */
export function contextFacts(input: AuthorizationInput): Record<string, unknown> {
  // The library's facts go into a fresh object first and the app's keys are added after, skipping
  // the ones already set. Not `{ ...input.context }` followed by the library's keys: V8 11 (Node 20)
  // gives an object cloned by spread and then extended a slow (dictionary) map, and every policy
  // reads this object. The rule holds for every per-decision object: build it fresh or with
  // Object.assign, never spread-then-extend.
  const facts: Record<string, unknown> = {};
  const c = input.connection;
  facts['trigger'] = input.trigger;
  facts['verified'] = input.peer.verified;
  facts['reauthCount'] = c.reauthCount;
  facts['ageMs'] = Math.round(c.ageMs);
  setIfString(facts, 'protocol', c.protocol);
  setIfString(facts, 'remoteAddress', c.remoteAddress);
  setIfString(facts, 'servername', c.servername);
  if (input.request !== undefined) {
    facts['method'] = input.request.method;
    facts['path'] = input.request.path;
  }
  if (input.peer.certificate !== undefined) facts['certificate'] = certificateFacts(input.peer.certificate);
  if (input.token !== undefined) facts['token'] = input.token;
  if (input.signals !== undefined) facts['signals'] = input.signals;
  const app = input.context;
  if (app !== undefined && app !== null) {
    for (const key of Object.keys(app)) {
      if (Object.prototype.hasOwnProperty.call(facts, key)) continue;
      // An app key `__proto__` stays a plain key (as in a spread), never the prototype.
      setOwn(facts, key, app[key]);
    }
  }
  return facts;
}

/**
 * Where each library fact of contextFacts() comes from in the input, so a decision cache can key on
 * the input behind a declared `context.<name>` fact. Keep in step with contextFacts().
 */
export const CONTEXT_FACT_SOURCES: Readonly<Record<string, string>> = nameTable({
  trigger: 'trigger',
  verified: 'peer.verified',
  reauthCount: 'connection.reauthCount',
  ageMs: 'connection.ageMs',
  protocol: 'connection.protocol',
  remoteAddress: 'connection.remoteAddress',
  servername: 'connection.servername',
  method: 'request.method',
  path: 'request.path',
  certificate: 'peer.certificate',
  token: 'token',
  signals: 'signals',
});

/**
 * A frozen lookup table with no prototype: a name from a policy or a request ('constructor',
 * '__proto__', 'toString') finds only the entries given here.
 */
export function nameTable(entries: Record<string, string>): Readonly<Record<string, string>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, string>, entries));
}

/** Request headers that carry credentials: never forwarded to an external decision point. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

/**
 * The whole input as plain JSON for an external decision point (OPA): X509Certificate objects become
 * their facts, credentials in headers are dropped (the verified claims travel as `token`).
 */
export function jsonInput(input: AuthorizationInput): Record<string, unknown> {
  const out: Record<string, unknown> = {
    trigger: input.trigger,
    subject: subjectId(input),
    action: actionName(input),
    resource: resourceId(input),
    peer: {
      verified: input.peer.verified,
      ...(input.peer.verifyError !== undefined && { verifyError: input.peer.verifyError }),
      ...(input.peer.certificate !== undefined && { certificate: certificateFacts(input.peer.certificate) }),
      chain: input.peer.chain.map((cert) => cert.fingerprint256),
    },
    connection: definedFields(input.connection),
  };
  if (input.context !== undefined) out['context'] = input.context;
  if (input.request !== undefined) {
    const headers: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(input.request.headers)) {
      if (value === undefined || SECRET_HEADERS.has(name.toLowerCase())) continue;
      // A header named `__proto__` stays a header, never the object's prototype.
      setOwn(headers, name, value);
    }
    out['request'] = { method: input.request.method, path: input.request.path, headers };
  }
  if (input.token !== undefined) out['token'] = input.token;
  if (input.signals !== undefined) out['signals'] = input.signals;
  return out;
}

/** The fields of `o` that have a value: what JSON would keep of it, said outright. */
function definedFields(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) if (value !== undefined) out[key] = value;
  return out;
}

function setIfString(facts: Record<string, unknown>, key: string, value: unknown): void {
  if (typeof value === 'string' && value !== '') facts[key] = value;
}
