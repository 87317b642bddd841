/**
 * The transmitter's keys from its JWKS endpoint, fetched here rather than by jose's
 * createRemoteJWKSet, which reads the whole answer whatever its size: the answer is bounded in
 * bytes, in time and in keys, then served through jose's createLocalJWKSet. Kept for `maxAge`; a
 * SET no cached key verifies asks for a fresh copy, at most once per `cooldown`, so a rotated key
 * is picked up while a flood of bad SETs cannot make the receiver hammer the endpoint.
 */
import type * as Jose from 'jose' with { 'resolution-mode': 'import' };
import { isObject, requestTransmitter, transmitterError } from './fetch-json.js';

/** More keys than any rotation needs; each may be tried against a SET without a `kid`. */
export const MAX_JWKS_KEYS = 32;

export type KeySource = Jose.JWTVerifyGetKey;

export interface RemoteKeysOptions {
  timeout: number;
  maxBytes: number;
  cooldown: number;
  maxAge: number;
}

export class RemoteKeys {
  readonly #jose: typeof Jose;
  readonly #url: URL;
  readonly #options: RemoteKeysOptions;
  #keys: KeySource | undefined;
  #fetchedAt = -Infinity;
  /** Why the last fetch failed; cleared by a successful one. */
  #failure: Error | undefined;
  #loading: Promise<KeySource> | undefined;

  constructor(jose: typeof Jose, url: URL, options: RemoteKeysOptions) {
    this.#jose = jose;
    this.#url = url;
    this.#options = options;
  }

  /**
   * The cached keys, fetched first when there are none or they are older than maxAge. After a failed
   * fetch the endpoint is not asked again within the cooldown: each SET meanwhile meets that failure
   * (the transmitter is told to retry later), so a flood of SETs cannot hammer an endpoint that is down.
   */
  current(): Promise<KeySource> {
    const since = performance.now() - this.#fetchedAt;
    if (this.#keys !== undefined && since < this.#options.maxAge) return Promise.resolve(this.#keys);
    if (this.#loading === undefined && this.#failure !== undefined && since < this.#options.cooldown)
      return Promise.reject(this.#failure);
    return this.#load();
  }

  /** Fresh keys after a SET no cached key verified; undefined while cooling down (the cached ones stand). */
  async refresh(): Promise<KeySource | undefined> {
    if (this.#loading === undefined && performance.now() - this.#fetchedAt < this.#options.cooldown) return undefined;
    return this.#load();
  }

  #load(): Promise<KeySource> {
    this.#loading ??= this.#fetch().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #fetch(): Promise<KeySource> {
    // A failed fetch counts for the cooldown too: an unreachable endpoint is not asked per SET.
    this.#fetchedAt = performance.now();
    try {
      const { status, body } = await requestTransmitter('jwks', this.#url, {
        timeout: this.#options.timeout,
        maxBytes: this.#options.maxBytes,
      });
      if (status !== 200) throw transmitterError(`jwks: the transmitter answered ${status}`);
      this.#keys = localKeys(this.#jose, body, (detail, cause) => transmitterError(`jwks: ${detail}`, cause));
    } catch (err) {
      this.#failure = err as Error;
      throw err;
    }
    this.#failure = undefined;
    this.#fetchedAt = performance.now();
    return this.#keys;
  }
}

/** A JWK Set checked and served by jose; `fault` names what is wrong with it. */
export function localKeys(
  jose: typeof Jose,
  jwks: unknown,
  fault: (detail: string, cause?: unknown) => Error,
): KeySource {
  if (!isObject(jwks) || !Array.isArray(jwks['keys'])) throw fault('not a JWK Set ({ keys: [...] })');
  if (jwks['keys'].length > MAX_JWKS_KEYS) throw fault(`more than ${MAX_JWKS_KEYS} keys`);
  try {
    return jose.createLocalJWKSet(jwks as unknown as Jose.JSONWebKeySet);
  } catch (err) {
    throw fault('a malformed JWK Set', err);
  }
}
