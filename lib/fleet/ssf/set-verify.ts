/**
 * Security Event Token verification (RFC 8417) with jose, each refusal named by its RFC 8935 §2.4
 * error code so the push endpoint and the poll client can tell the transmitter what was wrong.
 *
 * Order matters: the token's shape and `typ` are read first (invalid_request), then the signature
 * against the issuer's keys (invalid_key), and only then the claims of a token known to be the
 * issuer's (invalid_issuer, invalid_audience, invalid_request): no claim of an unverified token
 * decides anything.
 */
import type * as Jose from 'jose' with { 'resolution-mode': 'import' };
import { ctlsError, invalidOption, type ContinuousTlsError } from '../../common/errors.js';
import { checkDuration, checkString } from '../../common/validate.js';

/** RFC 8935 §2.4 error codes (IANA "Security Event Token Error Codes"). */
export type SsfErrorCode =
  'invalid_request' | 'invalid_key' | 'invalid_issuer' | 'invalid_audience' | 'authentication_failed' | 'access_denied';

/** A SET whose signature, issuer, audience, age and shape were checked. */
export interface VerifiedSet {
  /** The token as received. */
  token: string;
  header: Jose.JWTHeaderParameters;
  claims: SetClaims;
}

export interface SetClaims extends Record<string, unknown> {
  iss: string;
  aud: string | string[];
  iat: number;
  jti: string;
  /** Event type URI -> event payload (RFC 8417 §2.2). */
  events: Record<string, Record<string, unknown>>;
  /** The subject (SSF 1.0); older CAEP drafts put it in each event's `subject`. */
  sub_id?: unknown;
}

export interface SetVerifierOptions {
  issuer: string;
  audience: string;
  /** The transmitter's public keys as a JWK Set. Either this or jwksUrl. */
  jwks?: Jose.JSONWebKeySet;
  /** The transmitter's JWKS endpoint (fetched and cached by jose; re-fetched on an unknown kid). */
  jwksUrl?: string | URL;
  /** Oldest `iat` accepted (ms, default 5 minutes). */
  maxAge?: number;
  /** Clock skew tolerated on `iat` (ms, default 30 s). */
  clockTolerance?: number;
  /** Signature algorithms accepted (default: the asymmetric JWS algorithms). */
  algorithms?: string[];
  /** How long a JWKS fetch may take (ms, default 5 s). */
  jwksTimeout?: number;
}

/** Asymmetric only: a JWKS is public, so an HMAC "key" taken from it would be known to everyone. */
export const DEFAULT_ALGORITHMS: readonly string[] = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
  'Ed25519',
];
const MAX_EVENTS = 16;
const MAX_JTI_CHARS = 256;

/** jose failures that mean the signature or its key is not acceptable. */
const KEY_FAULTS = new Set([
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JOSE_NOT_SUPPORTED',
  'ERR_JWK_INVALID',
]);
/** jose failures that mean the token is not a well-formed JWS/JWT. */
const SHAPE_FAULTS = new Set([
  'ERR_JWS_INVALID',
  'ERR_JWT_INVALID',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JWT_EXPIRED',
]);

/** A refused SET: ERR_CTLS_SET_INVALID with the RFC 8935 code in `ssfError`. */
export function setInvalid(ssfError: SsfErrorCode, description: string): ContinuousTlsError {
  const err = ctlsError('ERR_CTLS_SET_INVALID', `Security Event Token refused (${ssfError}): ${description}`);
  return Object.assign(err, { ssfError, description });
}

type KeySource = Jose.JWTVerifyGetKey;

export class SetVerifier {
  readonly issuer: string;
  readonly audience: string;
  readonly maxAge: number;
  readonly clockTolerance: number;
  readonly #algorithms: string[];
  readonly #jwks: Jose.JSONWebKeySet | undefined;
  readonly #jwksUrl: URL | undefined;
  readonly #jwksTimeout: number;
  #keys: Promise<{ jose: typeof Jose; key: KeySource }> | undefined;

  constructor(options: SetVerifierOptions) {
    this.issuer = checkString('issuer', options.issuer, { nonEmpty: true }) ?? missing('issuer');
    this.audience = checkString('audience', options.audience, { nonEmpty: true }) ?? missing('audience');
    this.maxAge = checkDuration('maxAge', options.maxAge, 300_000);
    this.clockTolerance = checkDuration('clockTolerance', options.clockTolerance, 30_000, { zero: true });
    this.#jwksTimeout = checkDuration('jwksTimeout', options.jwksTimeout, 5_000);
    const { jwks, jwksUrl, algorithms } = options;
    if ((jwks === undefined) === (jwksUrl === undefined))
      throw invalidOption('jwks', 'given, or jwksUrl, but not both');
    if (jwks !== undefined && (jwks === null || typeof jwks !== 'object' || !Array.isArray(jwks.keys)))
      throw invalidOption('jwks', 'a JWK Set ({ keys: [...] })', jwks);
    if (jwksUrl !== undefined && !(jwksUrl instanceof URL) && !URL.canParse(String(jwksUrl)))
      throw invalidOption('jwksUrl', 'an absolute URL', jwksUrl);
    this.#jwks = jwks;
    this.#jwksUrl = jwksUrl === undefined ? undefined : new URL(String(jwksUrl));
    this.#algorithms = checkAlgorithms(algorithms);
  }

  /** How long a jti must be remembered: past that its `iat` is too old to be accepted anyway. */
  get replayWindow(): number {
    return this.maxAge + 2 * this.clockTolerance;
  }

  /** The verified SET, or a rejection with ERR_CTLS_SET_INVALID (or ERR_CTLS_SSF_TRANSMITTER: keys unreachable). */
  async verify(token: unknown, now = Date.now()): Promise<VerifiedSet> {
    if (typeof token !== 'string') throw setInvalid('invalid_request', 'the SET is not a string');
    const { jose, key } = await this.#loadKeys();
    const header = readHeader(jose, token);
    let payload: Jose.JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, key, { algorithms: this.#algorithms }));
    } catch (err) {
      throw this.#verifyFault(err);
    }
    return { token, header, claims: this.#checkClaims(payload, now) };
  }

  #verifyFault(err: unknown): Error {
    const raw = (err as { code?: unknown }).code;
    const code = typeof raw === 'string' ? raw : '';
    if (KEY_FAULTS.has(code)) return setInvalid('invalid_key', keyFault(code));
    if (SHAPE_FAULTS.has(code)) return setInvalid('invalid_request', 'malformed SET');
    // A remote JWKS that cannot be fetched is not the SET's fault: the transmitter should retry.
    if (this.#jwksUrl !== undefined)
      return ctlsError('ERR_CTLS_SSF_TRANSMITTER', "The transmitter's JWKS could not be fetched", { cause: err });
    // With local keys every other failure is the token's (jose throws a TypeError for a key/alg mismatch).
    return setInvalid('invalid_key', 'the key cannot verify this SET');
  }

  #checkClaims(payload: Jose.JWTPayload, now: number): SetClaims {
    const { iss, aud, iat, jti, events } = payload as Record<string, unknown>;
    if (typeof iss !== 'string') throw setInvalid('invalid_request', 'the "iss" claim is missing');
    if (iss !== this.issuer) throw setInvalid('invalid_issuer', 'the SET is from another issuer');
    const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : undefined;
    if (audiences === undefined || audiences.length === 0)
      throw setInvalid('invalid_request', 'the "aud" claim is missing');
    if (!audiences.includes(this.audience)) throw setInvalid('invalid_audience', 'the SET is for another audience');
    if (typeof iat !== 'number' || !Number.isFinite(iat))
      throw setInvalid('invalid_request', 'the "iat" claim is missing');
    if (iat * 1000 > now + this.clockTolerance) throw setInvalid('invalid_request', 'the SET was issued in the future');
    if (iat * 1000 < now - this.maxAge - this.clockTolerance) throw setInvalid('invalid_request', 'the SET is too old');
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_CHARS)
      throw setInvalid('invalid_request', 'the "jti" claim is missing or too long');
    checkEvents(events);
    return payload as SetClaims;
  }

  async #loadKeys(): Promise<{ jose: typeof Jose; key: KeySource }> {
    this.#keys ??= (async () => {
      const jose = await import('jose');
      const key =
        this.#jwksUrl !== undefined
          ? jose.createRemoteJWKSet(this.#jwksUrl, { timeoutDuration: this.#jwksTimeout })
          : jose.createLocalJWKSet(this.#jwks as Jose.JSONWebKeySet);
      return { jose, key };
    })();
    return this.#keys;
  }
}

function missing(name: string): never {
  throw invalidOption(name, 'a non-empty string');
}

function checkAlgorithms(algorithms: unknown): string[] {
  if (algorithms === undefined) return [...DEFAULT_ALGORITHMS];
  if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((a) => typeof a === 'string'))
    throw invalidOption('algorithms', 'a non-empty array of JWS algorithm names', algorithms);
  for (const alg of algorithms as string[]) {
    if (!DEFAULT_ALGORITHMS.includes(alg)) throw invalidOption('algorithms', 'asymmetric JWS algorithms only', alg);
  }
  return [...(algorithms as string[])];
}

/** RFC 8417 §2.3: `typ` is `secevent+jwt` (media types compare case-insensitively, `application/` optional). */
function readHeader(jose: typeof Jose, token: string): Jose.JWTHeaderParameters {
  let header: Jose.ProtectedHeaderParameters;
  try {
    header = jose.decodeProtectedHeader(token);
  } catch {
    throw setInvalid('invalid_request', 'the body is not a JWT');
  }
  const segments = token.split('.');
  if (segments.length !== 3) throw setInvalid('invalid_request', 'the SET is not a signed JWT (JWS compact)');
  // One spelling per SET: base64url with stray padding bits would give a second token text that verifies.
  if (!segments.every((segment) => Buffer.from(segment, 'base64url').toString('base64url') === segment))
    throw setInvalid('invalid_request', 'the SET is not canonical base64url');
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase() : undefined;
  if (typ !== 'secevent+jwt' && typ !== 'application/secevent+jwt')
    throw setInvalid('invalid_request', 'the "typ" header is not secevent+jwt');
  return header as Jose.JWTHeaderParameters;
}

function checkEvents(events: unknown): void {
  if (events === null || typeof events !== 'object' || Array.isArray(events))
    throw setInvalid('invalid_request', 'the "events" claim is missing');
  const entries = Object.entries(events);
  if (entries.length === 0) throw setInvalid('invalid_request', 'the "events" claim names no event');
  if (entries.length > MAX_EVENTS) throw setInvalid('invalid_request', `more than ${MAX_EVENTS} events in one SET`);
  for (const [uri, payload] of entries) {
    if (uri.length === 0 || uri.length > 512) throw setInvalid('invalid_request', 'an event type URI is malformed');
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
      throw setInvalid('invalid_request', 'an event payload is not a JSON object');
  }
}

function keyFault(code: string): string {
  switch (code) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'signature verification failed';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return "no key of the transmitter's JWKS matches the SET";
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'several keys match the SET';
    default:
      return 'signature algorithm not accepted';
  }
}
