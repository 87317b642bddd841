/**
 * Bearer JWT verification for the REST middleware, with jose. Tokens must be short-lived: `exp` is
 * required and enforced. jose is an ES module, loaded with import() on the first token.
 *
 * A verified token is remembered (by its exact text, so by its signature) until its exp or for at
 * most a minute, so a client reusing its token does not pay a signature check per request. Expiry is
 * re-checked on every use.
 */
import type * as Jose from 'jose' with { 'resolution-mode': 'import' };
import { ctlsError, invalidOption } from '../common/errors.js';
import { checkBoolean, checkCount, checkObject } from '../common/validate.js';
import { checkSharedSecret } from './shared-secret.js';
import { sealClaims } from '../policy/cache-key.js';

export interface JwtOptions {
  /**
   * Verification key(s): a JWK, a JWK Set ({ keys: [...] }), a KeyObject or CryptoKey, or a shared
   * secret (string or bytes, for HS256/384/512, at least 32 bytes). Either this or jwksUrl. A public
   * key goes in as a KeyObject (`crypto.createPublicKey(pem)`) or a JWK: public key material given
   * as a secret is refused (see shared-secret.ts), since anyone holding it could then sign.
   */
  keys?: Jose.JWK | { keys: Jose.JWK[] } | Jose.KeyObject | Jose.CryptoKey | Uint8Array | string;
  /** A JWKS endpoint, fetched and cached by jose (keys are re-fetched on an unknown kid). */
  jwksUrl?: string | URL;
  issuer?: string | string[];
  audience?: string | string[];
  /** Allowed `alg` values; default: whatever the key type allows. */
  algorithms?: string[];
  /** Reject requests without a token. Default true. */
  required?: boolean;
  /** Seconds of clock skew tolerated on exp/nbf/iat. Default 0. */
  clockToleranceSec?: number;
  /** Reject tokens whose `iat` is older than this (seconds). */
  maxTokenAgeSec?: number;
  /** Verified tokens remembered. Default 1000; 0 disables. */
  cacheSize?: number;
}

export type TokenResult =
  | { status: 'absent' }
  | { status: 'valid'; claims: Record<string, unknown> }
  /** The token is missing (when required), malformed, expired, badly signed or for someone else. */
  | { status: 'invalid'; description: string }
  /** The keys to verify it could not be fetched: not the client's fault. */
  | { status: 'unavailable'; description: string };

type GetKey = Jose.KeyObject | Jose.CryptoKey | Jose.JWK | Uint8Array | Jose.JWTVerifyGetKey;

/** jose error codes that say the token itself is bad (anything else is our side failing). */
const TOKEN_FAULTS: Record<string, string> = {
  ERR_JWT_EXPIRED: 'token expired',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'signature verification failed',
  ERR_JWS_INVALID: 'malformed token',
  ERR_JWT_INVALID: 'malformed token',
  ERR_JWKS_NO_MATCHING_KEY: 'no key matches the token',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'several keys match the token',
  ERR_JOSE_ALG_NOT_ALLOWED: 'algorithm not allowed',
  ERR_JOSE_NOT_SUPPORTED: 'algorithm not supported',
};
const MAX_REMEMBER_MS = 60_000;
/** Clock skew worth tolerating is seconds; five minutes is generous (RFC 7519 speaks of "a few minutes"). */
const MAX_TOLERANCE_SEC = 300;

export class TokenVerifier {
  readonly #options: JwtOptions;
  readonly #required: boolean;
  readonly #remembered = new Map<string, { claims: Record<string, unknown>; until: number }>();
  readonly #cacheSize: number;
  #key: Promise<{ jose: typeof Jose; key: GetKey }> | undefined;

  constructor(options: JwtOptions) {
    if (checkObject('jwt', options) === undefined) throw invalidOption('jwt', 'an object', options);
    const { keys, jwksUrl, clockToleranceSec = 0 } = options;
    if ((keys === undefined) === (jwksUrl === undefined))
      throw invalidOption('jwt.keys', 'given, or jwt.jwksUrl, but not both');
    if (jwksUrl !== undefined && !(jwksUrl instanceof URL) && !URL.canParse(String(jwksUrl)))
      throw invalidOption('jwt.jwksUrl', 'an absolute URL', jwksUrl);
    // Seconds, as in the JWT claims it loosens (checkDuration speaks of ms).
    // Bounded: an unbounded tolerance would switch off the required `exp`.
    if (typeof clockToleranceSec !== 'number' || !(clockToleranceSec >= 0 && clockToleranceSec <= MAX_TOLERANCE_SEC))
      throw invalidOption(
        'jwt.clockToleranceSec',
        `a number of seconds from 0 to ${MAX_TOLERANCE_SEC}`,
        clockToleranceSec,
      );
    if (keys !== undefined) checkSharedSecret(keys);
    if (options.audience === undefined) warnNoAudience();
    this.#options = options;
    this.#required = checkBoolean('jwt.required', options.required, true);
    this.#cacheSize = checkCount('jwt.cacheSize', options.cacheSize, 1000, { min: 0 });
  }

  /** Verifies the token in an Authorization header value (RFC 6750 §2.1: `Bearer <token>`). */
  async verify(authorization: string | undefined): Promise<TokenResult> {
    const token = bearerToken(authorization);
    if (token === undefined)
      return this.#required ? { status: 'invalid', description: 'missing bearer token' } : { status: 'absent' };
    if (token === '') return { status: 'invalid', description: 'malformed token' };
    const now = Date.now();
    const known = this.#remembered.get(token);
    if (known !== undefined) {
      if (known.until > now) return { status: 'valid', claims: known.claims };
      this.#remembered.delete(token);
    }
    let loaded: { jose: typeof Jose; key: GetKey };
    try {
      loaded = await (this.#key ??= this.#loadKey());
    } catch {
      this.#key = undefined;
      return { status: 'unavailable', description: 'token keys unavailable' };
    }
    try {
      const { payload } = await loaded.jose.jwtVerify(token, loaded.key as Jose.JWTVerifyGetKey, this.#verifyOptions());
      // Frozen all the way down: the claims one request's policy reads are the next one's too (see
      // #remember), and a cached decision names them by a key kept per claims object.
      const claims = sealClaims(payload as Record<string, unknown>);
      this.#remember(token, claims, now);
      return { status: 'valid', claims };
    } catch (err) {
      // Not every failure is jose's: WebCrypto's DOMException (Node 24: 'Invalid key type') has a numeric code.
      const raw = (err as { code?: unknown }).code;
      const code = typeof raw === 'string' ? raw : '';
      // Only fetching a JWKS can fail on our side; with local keys every failure is the token's
      // (jose throws a plain TypeError for an `alg` the key type cannot do). The client is told
      // what is wrong with its token, never how the server's keys look (RFC 6750 §3.1).
      const tokenFault = TOKEN_FAULTS[code] !== undefined || code.startsWith('ERR_JWT_') || code.startsWith('ERR_JWS_');
      if (this.#options.jwksUrl !== undefined && !tokenFault)
        return { status: 'unavailable', description: 'token keys unavailable' };
      if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') return { status: 'invalid', description: claimFault(err) };
      return { status: 'invalid', description: TOKEN_FAULTS[code] ?? 'invalid token' };
    }
  }

  #verifyOptions(): Jose.JWTVerifyOptions {
    const o = this.#options;
    const v: Jose.JWTVerifyOptions = { requiredClaims: ['exp'], clockTolerance: o.clockToleranceSec ?? 0 };
    if (o.issuer !== undefined) v.issuer = o.issuer;
    if (o.audience !== undefined) v.audience = o.audience;
    if (o.algorithms !== undefined) v.algorithms = o.algorithms;
    if (o.maxTokenAgeSec !== undefined) v.maxTokenAge = o.maxTokenAgeSec;
    return v;
  }

  #remember(token: string, claims: Record<string, unknown>, now: number): void {
    if (this.#cacheSize === 0 || typeof claims['exp'] !== 'number') return;
    let until = Math.min(claims['exp'] * 1000, now + MAX_REMEMBER_MS);
    const { maxTokenAgeSec } = this.#options;
    if (maxTokenAgeSec !== undefined && typeof claims['iat'] === 'number')
      until = Math.min(until, (claims['iat'] + maxTokenAgeSec) * 1000);
    if (this.#remembered.size >= this.#cacheSize) {
      const oldest = this.#remembered.keys().next().value as string;
      this.#remembered.delete(oldest);
    }
    this.#remembered.set(token, { claims, until });
  }

  async #loadKey(): Promise<{ jose: typeof Jose; key: GetKey }> {
    const jose = await import('jose');
    const { keys, jwksUrl } = this.#options;
    if (jwksUrl !== undefined)
      return { jose, key: jose.createRemoteJWKSet(new URL(String(jwksUrl)), { timeoutDuration: 2_000 }) };
    if (typeof keys === 'string') return { jose, key: new TextEncoder().encode(keys) };
    if (keys !== null && typeof keys === 'object' && Array.isArray((keys as { keys?: unknown }).keys)) {
      return { jose, key: jose.createLocalJWKSet(keys as Jose.JSONWebKeySet) };
    }
    return { jose, key: keys as GetKey };
  }
}

/**
 * Without an audience any token the issuer signs is accepted here: an ID token, or an access token
 * meant for another API of the same identity provider (RFC 8725 section 3.9). Said once per process.
 */
let warnedNoAudience = false;
function warnNoAudience(): void {
  if (warnedNoAudience) return;
  warnedNoAudience = true;
  process.emitWarning(
    ctlsError(
      'ERR_CTLS_JWT_NO_AUDIENCE',
      'jwt.audience is not set: any unexpired token of the issuer is accepted, ID tokens and tokens ' +
        'for other APIs included. Set jwt.audience to the identifier this API has at the identity provider.',
    ),
  );
}

/** jose names the claim that failed (`"iss" claim check failed`): say which, not the expected value. */
function claimFault(err: unknown): string {
  const claim = (err as { claim?: unknown }).claim;
  return typeof claim === 'string' && /^[a-z_]{1,32}$/i.test(claim)
    ? `"${claim}" claim check failed`
    : 'claim check failed';
}

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  // The auth-scheme is case-insensitive (RFC 9110 §11.1); another scheme is "no bearer token".
  if (header.length < 7 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  return header.slice(7).trim();
}
