/**
 * Every public error of the library, declared once with a stable `code`.
 * Users match on `err.code`; messages may improve, codes never change.
 * docs/errors.md documents each code (test/errors.test.ts checks that).
 */

export interface OpenSSLErrorFields {
  /** OpenSSL's reason string, e.g. 'certificate verify failed'. */
  reason?: string;
  /** OpenSSL library name, e.g. 'SSL routines'. */
  library?: string;
  /** OpenSSL's packed error code. */
  opensslCode?: number;
}

/**
 * The OpenSSL fields of an error the addon threw (reason, library, opensslCode, each copied only when
 * it has the right type), with the error itself as `cause`: what a ContinuousTlsError re-coding a
 * native error carries, so OpenSSL's own words survive the re-coding.
 */
export function opensslFields(error: unknown): OpenSSLErrorFields & { cause?: unknown } {
  const fields: OpenSSLErrorFields & { cause?: unknown } = {};
  if (error === null || typeof error !== 'object') return fields;
  fields.cause = error;
  const { reason, library, opensslCode } = error as Record<string, unknown>;
  if (typeof reason === 'string') fields.reason = reason;
  if (typeof library === 'string') fields.library = library;
  if (typeof opensslCode === 'number') fields.opensslCode = opensslCode;
  return fields;
}

export class ContinuousTlsError extends Error {
  readonly code: string;
  declare reason?: string;
  declare library?: string;
  declare opensslCode?: number;
  constructor(code: string, message: string, fields: OpenSSLErrorFields & { cause?: unknown } = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = code;
    this.name = 'ContinuousTlsError';
    if (fields.reason !== undefined) this.reason = fields.reason;
    if (fields.library !== undefined) this.library = fields.library;
    if (fields.opensslCode !== undefined) this.opensslCode = fields.opensslCode;
    madeHere.add(this);
  }
}

/** Every ContinuousTlsError constructed (by the library, or an app subclassing it): see ownedError(). */
const madeHere = new WeakSet<object>();

/** The catalogue of the library's own codes, with a one-line meaning each. */
export const errorCodes = {
  ERR_CTLS_INVALID_OPTION: 'An option passed to the library has the wrong type or value; the message names it.',
  ERR_CTLS_BAD_PEM: 'A key, certificate, CA or CRL could not be parsed (or a key passphrase was wrong).',
  ERR_CTLS_OPENSSL_TOO_OLD: 'The OpenSSL that Node exports is older than 3.0.',
  ERR_CTLS_NATIVE_LOAD: 'The native addon could not be loaded (not built, or built for another Node ABI).',
  ERR_CTLS_HANDSHAKE_TIMEOUT: 'The TLS handshake did not complete within handshakeTimeout.',
  ERR_CTLS_SOCKET_CLOSED: 'The operation needs a live connection, but the socket is closed.',
  ERR_CTLS_CERT_VERIFY: 'The peer certificate chain failed verification (the reason names the OpenSSL error).',
  ERR_CTLS_CHAIN_INCOMPLETE:
    'Warning: an attached connection showed its leaf alone and nothing known issued it; ' +
    'pass the intermediates to attach().',
  ERR_CTLS_HOSTNAME_MISMATCH: 'The server certificate does not match the host name the client connected to.',
  ERR_CTLS_PEER_CERT_CHANGED:
    'A server presented another certificate in a TLS 1.2 renegotiation than at the handshake; the client refused it.',
  ERR_CTLS_NO_PEER_CERTIFICATE: 'A certificate was required but the peer did not send one.',
  ERR_CTLS_FRESH_UNSUPPORTED:
    'A fresh re-authentication is not possible on this connection ' +
    '(no post-handshake auth, TLS 1.3 attached socket, client side).',
  ERR_CTLS_REAUTH_IN_PROGRESS: 'A TLS 1.2 renegotiation is already running on this connection.',
  ERR_CTLS_REAUTH_TIMEOUT: 'The peer did not answer a fresh re-authentication within the timeout.',
  ERR_CTLS_RENEGOTIATION_REFUSED:
    'An attached TLS 1.2 connection was closed because its client started a renegotiation ' +
    '(the owned tier refuses them too).',
  ERR_CTLS_HOLD_UNSUPPORTED:
    'An attached connection was closed because this Node version gives no way to hold its data ' +
    'while a decision is pending.',
  ERR_CTLS_DEAUTHORIZED: 'The connection was closed because its authorization was denied or could not be renewed.',
  ERR_CTLS_DETACHED:
    'An attached connection held with no decision in force (lapsed, or denied and kept open) was closed ' +
    'by detach(): nothing would decide it again.',
  ERR_CTLS_POLICY_FAILED: 'A policy threw, rejected or answered something that is not a decision (fail closed).',
  ERR_CTLS_POLICY_TIMEOUT: 'A policy did not answer within its timeout (fail closed).',
  ERR_CTLS_PDP_HTTP: 'An external decision point answered with a non-2xx HTTP status.',
  ERR_CTLS_PDP_MALFORMED: 'An external decision point answered with a body that is not a valid decision.',
  ERR_CTLS_PDP_UNREACHABLE: 'An external decision point could not be reached.',
  ERR_CTLS_PDP_INPUT:
    'A value in the request for an external decision point cannot be sent as JSON exactly (undefined, NaN, ' +
    'a Map, a class instance …); the request is refused (fail closed).',
  ERR_CTLS_CEDAR: 'Cedar policies, schema or entities failed to parse or validate (diagnostics attached).',
  ERR_CTLS_CEDAR_CONTEXT:
    'A Cedar request holds a value Cedar cannot represent exactly (null, a fraction, an integer beyond 2^53 …); ' +
    '`path` names it (fail closed).',
  ERR_CTLS_CRL_STALE: "A CRL's nextUpdate has passed (strict revocation denies; best-effort warns).",
  ERR_CTLS_CRL_LOAD: 'A CRL source could not be read or parsed; the previous list stays in force.',
  ERR_CTLS_TOKEN_INVALID: 'A bearer token is missing, malformed, expired or has a bad signature.',
  ERR_CTLS_TLS: "A TLS protocol error; reason, library and opensslCode carry OpenSSL's own words.",
  ERR_CTLS_PROTOCOL: 'The peer sent bytes that are not valid TLS (garbage, truncated or oversized records).',
  ERR_CTLS_HELD_LIMIT:
    'The peer sent more plaintext than maxHeldBytes while its authorization was pending ' +
    '(a certificate request unanswered), its data would take the server past maxHeldBytesTotal, ' +
    'or more requests or streams than a held attached ' +
    'connection may queue.',
  ERR_CTLS_IDENTITY_FAILED:
    "A client's identity provider threw, rejected or answered no { key, cert }; the connection was failed.",
  ERR_CTLS_IDENTITY_TIMEOUT:
    "A client's identity provider did not answer within identityTimeout; the connection was failed.",
  ERR_CTLS_BAD_SUBJECT: 'A subject identifier (RFC 9493) is malformed: unknown format, missing or over-long member.',
  ERR_CTLS_FLEET_BAD_EVENT:
    'A fleet event is malformed or of an unknown type; it was refused (or skipped and reported).',
  ERR_CTLS_FLEET_UNAVAILABLE:
    'The fleet feed (Redis) could not be reached to publish (the event may be on it) or to load state at start.',
  ERR_CTLS_FLEET_STALE:
    'The fleet feed has been unreachable for longer than maxStaleness: ' +
    'a strict fleet denies new and lapsing decisions.',
  ERR_CTLS_FLEET_CLOSED: 'The fleet was closed; it publishes and applies nothing more.',
  ERR_CTLS_FLEET_RECREATED:
    'The fleet feed lost entries a member had applied (Redis lost data); it kept its state and wrote it back.',
  ERR_CTLS_SET_INVALID:
    'A Security Event Token was refused (bad signature, issuer, audience, age); ' +
    '`ssfError` names the RFC 8935 code.',
  ERR_CTLS_SSF_TRANSMITTER:
    'A Shared Signals transmitter could not be reached or answered with an error or a malformed body.',
  ERR_CTLS_CLIENT_CAS_UNKNOWN:
    'A warning: REST could not learn the CAs that verified a node:tls client, and judges the chain node shows.',
  ERR_CTLS_JWT_NO_AUDIENCE:
    'A warning: bearer tokens are verified without an audience, so any token of the issuer is accepted.',
  ERR_CTLS_HANDSHAKE_LIMIT:
    'A server refused a connection because maxPendingHandshakes handshakes were already in progress.',
} as const;

export type ErrorCode = keyof typeof errorCodes;

export function ctlsError(
  code: ErrorCode,
  message: string,
  fields?: OpenSSLErrorFields & { cause?: unknown },
): ContinuousTlsError {
  return new ContinuousTlsError(code, message, fields);
}

/**
 * The Error constructor as it was when the library loaded: an app that later replaces the global
 * (a Proxy of an instrumentation shim, a subclass) cannot turn where the stack limit is written.
 */
const OriginalError = Error;

/**
 * ctlsError() without a stack trace, for errors that the engine raises on its own (a sweep, a
 * timer): their frames would be the engine's, never the app's, and a stream's destroy() formats
 * the stack at once, which for a CRL swap that cuts thousands of connections costs more than
 * deciding them. The app's Error.stackTraceLimit is put back whatever happens; where it cannot be
 * changed (frozen intrinsics, an accessor, a trap that throws) the stack is kept, and nothing here
 * throws.
 */
export function ctlsErrorWithoutStack(
  code: ErrorCode,
  message: string,
  fields?: OpenSSLErrorFields & { cause?: unknown },
): ContinuousTlsError {
  let saved: unknown;
  let lowered = false;
  try {
    const descriptor = Object.getOwnPropertyDescriptor(OriginalError, 'stackTraceLimit');
    if (descriptor !== undefined && descriptor.writable === true) {
      saved = descriptor.value;
      // Set before the write: a Proxy's trap may apply the write and then report failure (a throw
      // in strict code), and the limit must be put back all the same.
      lowered = true;
      OriginalError.stackTraceLimit = 0;
    }
  } catch {
    // An Error the library cannot lower the limit on: the stack is kept.
  }
  try {
    return new ContinuousTlsError(code, message, fields);
  } finally {
    if (lowered) {
      try {
        OriginalError.stackTraceLimit = saved as number;
      } catch {
        // Nothing more can be done about a limit that cannot be written back; the error stands.
      }
    }
  }
}

/**
 * Emits `warning` as 'warning' on `emitter` (a server) when somebody listens there, else as a
 * process warning: a warning that says why connections are being denied (a stale CRL, a chain node
 * hid) must not vanish because the app never subscribed.
 */
export function emitWarning(
  emitter: { listenerCount(event: string): number; emit(event: string, ...args: unknown[]): boolean },
  warning: Error,
): void {
  if (emitter.listenerCount('warning') > 0) emitter.emit('warning', warning);
  else process.emitWarning(warning);
}

/**
 * What a thrown value says, read without letting it throw again: an app's callback can fail with
 * anything, a revoked Proxy or an object whose `message` getter or `toString` throws included.
 */
export function describeThrown(error: unknown): string {
  try {
    if (error instanceof Error) return String(error.message);
    return typeof error === 'string' ? error : String(error);
  } catch {
    return `a ${typeof error} that cannot be read`;
  }
}

/** The string `code` of a thrown value, read without letting it throw again. */
export function codeOfThrown(error: unknown): string | undefined {
  try {
    const code = (error as { code?: unknown } | null | undefined)?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A fresh error the library may hand to node (whose stream destroy() reads its stack) and to the
 * app, the value it stands for as its cause. The value itself is never passed on: an app's may be
 * anything (a falsy throw, a revoked Proxy, a getter that throws on its second read), and even one
 * the library made may have passed through app code. One the library made keeps its code and
 * message; anything else gets `code`, and a message saying what `what` failed with.
 */
export function ownedError(value: unknown, code: ErrorCode, what: string): Error {
  if (typeof value === 'object' && value !== null && madeHere.has(value)) {
    let cause: unknown = value;
    try {
      // The copy stands for the library's error: what that one was caused by is its cause too.
      const own = (value as { cause?: unknown }).cause;
      if (own !== undefined) cause = own;
    } catch {
      // An unreadable cause: the error itself is.
    }
    return new ContinuousTlsError(codeOfThrown(value) ?? code, describeThrown(value), { cause });
  }
  return ctlsError(code, `${what}: ${describeThrown(value)}`, { cause: value });
}

/**
 * A failure nobody can be handed (it happened in a callback the library runs for the app, or while
 * it tears down), as a process warning (with `code` when there is one): never a throw.
 */
export function warnOfFailure(what: string, error: unknown, code: string | undefined): void {
  process.emitWarning(`${what}: ${describeThrown(error)}`, {
    type: 'ContinuousTlsWarning',
    ...(code === undefined ? {} : { code }),
  });
}

export function invalidOption(name: string, expected: string, actual?: unknown): ContinuousTlsError {
  const got = actual === undefined ? '' : ` (got ${describe(actual)})`;
  return new ContinuousTlsError('ERR_CTLS_INVALID_OPTION', `The "${name}" option must be ${expected}${got}`);
}

function describe(value: unknown): string {
  try {
    if (value === null) return 'null';
    if (typeof value === 'string') return `'${value.length > 40 ? value.slice(0, 40) + '…' : value}'`;
    if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
    return `${typeof value} ${String(value)}`;
  } catch {
    // A revoked Proxy (Array.isArray throws), a symbol's or object's String() that throws.
    return `a ${typeof value} that cannot be read`;
  }
}
