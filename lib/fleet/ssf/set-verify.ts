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
import { checkCount, checkDuration, checkString } from '../../common/validate.js';
import { localKeys, MAX_JWKS_KEYS, RemoteKeys, type KeySource } from './jwks.js';

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
  /**
   * The transmitter's JWKS endpoint: fetched (bounded by jwksTimeout and jwksMaxBytes), kept for
   * 10 minutes, and fetched again, at most once per jwksCooldown, when no key it holds verifies a SET.
   */
  jwksUrl?: string | URL;
  /** Oldest `iat` accepted (ms, default 5 minutes). */
  maxAge?: number;
  /** Clock skew tolerated on `iat` (ms, default 30 s). */
  clockTolerance?: number;
  /** Signature algorithms accepted (default: the asymmetric JWS algorithms). */
  algorithms?: string[];
  /** How long a JWKS fetch may take (ms, default 5 s). */
  jwksTimeout?: number;
  /** Largest JWKS answer read (bytes, default 65 536). */
  jwksMaxBytes?: number;
  /** Least time between two JWKS fetches prompted by SETs no cached key verifies (ms, default 30 s). */
  jwksCooldown?: number;
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

/** A SET issued longer than maxAge (and the clock tolerance) ago. */
export function tooOld(): ContinuousTlsError {
  return setInvalid('invalid_request', 'the SET is too old');
}

/** A refused SET: ERR_CTLS_SET_INVALID with the RFC 8935 code in `ssfError`. */
export function setInvalid(ssfError: SsfErrorCode, description: string): ContinuousTlsError {
  const err = ctlsError('ERR_CTLS_SET_INVALID', `Security Event Token refused (${ssfError}): ${description}`);
  return Object.assign(err, { ssfError, description });
}

export class SetVerifier {
  readonly issuer: string;
  readonly audience: string;
  readonly maxAge: number;
  readonly clockTolerance: number;
  readonly #algorithms: string[];
  readonly #jwks: Jose.JSONWebKeySet | undefined;
  readonly #jwksUrl: URL | undefined;
  readonly #jwksTimeout: number;
  readonly #jwksMaxBytes: number;
  readonly #jwksCooldown: number;
  #keys: Promise<{ jose: typeof Jose; keys: Keys }> | undefined;

  constructor(options: SetVerifierOptions) {
    this.issuer = checkString('issuer', options.issuer, { nonEmpty: true }) ?? missing('issuer');
    this.audience = checkString('audience', options.audience, { nonEmpty: true }) ?? missing('audience');
    this.maxAge = checkDuration('maxAge', options.maxAge, 300_000);
    this.clockTolerance = checkDuration('clockTolerance', options.clockTolerance, 30_000, { zero: true });
    this.#jwksTimeout = checkDuration('jwksTimeout', options.jwksTimeout, 5_000);
    this.#jwksMaxBytes = checkCount('jwksMaxBytes', options.jwksMaxBytes, 65_536);
    this.#jwksCooldown = checkDuration('jwksCooldown', options.jwksCooldown, 30_000, { zero: true });
    const { jwks, jwksUrl, algorithms } = options;
    if ((jwks === undefined) === (jwksUrl === undefined))
      throw invalidOption('jwks', 'given, or jwksUrl, but not both');
    if (jwks !== undefined && (jwks === null || typeof jwks !== 'object' || !Array.isArray(jwks.keys)))
      throw invalidOption('jwks', 'a JWK Set ({ keys: [...] })', jwks);
    if (jwks !== undefined && jwks.keys.length > MAX_JWKS_KEYS)
      throw invalidOption('jwks', `a JWK Set of at most ${MAX_JWKS_KEYS} keys`, jwks.keys.length);
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
    const { set, late } = await this.verifyLate(token, now);
    if (late) throw tooOld();
    return set;
  }

  /**
   * As verify(), but a SET issued longer than maxAge ago is handed back marked `late` instead of
   * refused: the receiver still applies one that only revokes (see receiver.ts).
   */
  async verifyLate(token: unknown, now = Date.now()): Promise<{ set: VerifiedSet; late: boolean }> {
    if (typeof token !== 'string') throw setInvalid('invalid_request', 'the SET is not a string');
    const { jose, keys } = await this.#loadKeys();
    const header = readHeader(jose, token);
    const payload = await this.#verifySignature(jose, keys, token);
    const claims = this.#checkClaims(payload, now);
    const late = (claims.iat as number) * 1000 < now - this.maxAge - this.clockTolerance;
    return { set: { token, header, claims }, late };
  }

  /** The payload of a token one of the transmitter's keys signed; a key it rotated in is fetched once. */
  async #verifySignature(jose: typeof Jose, keys: Keys, token: string): Promise<Jose.JWTPayload> {
    try {
      return await verifyWithAny(jose, token, await keys.current(), this.#algorithms);
    } catch (err) {
      if (!RELOAD_FAULTS.has(codeOf(err))) throw verifyFault(err);
      let fresh: KeySource | undefined;
      try {
        fresh = await keys.refresh();
      } catch (fetchErr) {
        throw verifyFault(fetchErr);
      }
      if (fresh === undefined) throw verifyFault(err);
      try {
        return await verifyWithAny(jose, token, fresh, this.#algorithms);
      } catch (again) {
        throw verifyFault(again);
      }
    }
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
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_CHARS)
      throw setInvalid('invalid_request', 'the "jti" claim is missing or too long');
    checkEvents(events);
    return payload as SetClaims;
  }

  async #loadKeys(): Promise<{ jose: typeof Jose; keys: Keys }> {
    this.#keys ??= (async () => {
      const jose = await import('jose');
      if (this.#jwksUrl !== undefined) {
        const remote = new RemoteKeys(jose, this.#jwksUrl, {
          timeout: this.#jwksTimeout,
          maxBytes: this.#jwksMaxBytes,
          cooldown: this.#jwksCooldown,
          maxAge: JWKS_MAX_AGE,
        });
        return { jose, keys: remote };
      }
      const local = localKeys(jose, this.#jwks, (detail) => invalidOption('jwks', detail));
      return { jose, keys: { current: () => Promise.resolve(local), refresh: () => Promise.resolve(undefined) } };
    })();
    // A local JWK Set jose refuses is refused again on the next SET, not cached as a rejection.
    this.#keys.catch(() => {
      this.#keys = undefined;
    });
    return this.#keys;
  }
}

/** Where the keys come from: the given JWK Set, or the transmitter's JWKS endpoint. */
interface Keys {
  current(): Promise<KeySource>;
  refresh(): Promise<KeySource | undefined>;
}

const JWKS_MAX_AGE = 600_000;
/** Faults a key rotated in at the transmitter since the last fetch would explain. */
const RELOAD_FAULTS = new Set([
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
]);

/**
 * Verifies against the key the header names. A SET without `kid` may match several keys of a JWKS
 * without kids (both are optional, RFC 7515/7517), as during a rotation: each is tried, and the SET
 * is the transmitter's if one verifies it. The JWKS holds at most MAX_JWKS_KEYS keys, so this is bounded.
 */
async function verifyWithAny(
  jose: typeof Jose,
  token: string,
  keys: KeySource,
  algorithms: string[],
): Promise<Jose.JWTPayload> {
  try {
    return (await jose.jwtVerify(token, keys, { algorithms })).payload;
  } catch (err) {
    if (codeOf(err) !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw err;
    let last: unknown = err;
    for await (const key of err as AsyncIterable<Jose.CryptoKey>) {
      try {
        return (await jose.jwtVerify(token, key, { algorithms })).payload;
      } catch (failed) {
        if (codeOf(failed) !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw failed;
        last = failed;
      }
    }
    throw last;
  }
}

function codeOf(err: unknown): string {
  const raw = (err as { code?: unknown } | null)?.code;
  return typeof raw === 'string' ? raw : '';
}

function verifyFault(err: unknown): Error {
  const code = codeOf(err);
  // Our failures (the JWKS could not be fetched, a configured JWK Set jose refuses) pass as they are:
  // the SET may be fine, and the transmitter should retry.
  if (code === 'ERR_CTLS_SSF_TRANSMITTER' || code === 'ERR_CTLS_INVALID_OPTION') return err as Error;
  if (KEY_FAULTS.has(code)) return setInvalid('invalid_key', keyFault(code));
  if (SHAPE_FAULTS.has(code)) return setInvalid('invalid_request', 'malformed SET');
  // Every other failure is the token's (jose throws a TypeError for a key/alg mismatch).
  return setInvalid('invalid_key', 'the key cannot verify this SET');
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
