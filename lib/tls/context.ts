/**
 * createSecureContext(options): an SSL_CTX configured from node:tls-shaped
 * options. The trust store (CA + CRLs) can be replaced while connections live.
 */
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { ContinuousTlsError, ctlsError, invalidOption, opensslFields } from '../common/errors.js';
import { checkCount, checkObject, checkOneOf, checkString } from '../common/validate.js';
import { native, type NativeSecureContext, type NativeVerifyResult, type CrlInfo } from './native.js';
import { pemBuffer, type PemInput } from './pem.js';
import { rememberedChainsFor, type RememberedChains } from './remembered-chains.js';

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';
export type RevocationMode = 'strict' | 'best-effort';

export interface KeyObjectInput {
  pem: string | Buffer;
  passphrase?: string;
}

export interface SecureContextOptions {
  key?: string | Buffer | ReadonlyArray<string | Buffer | KeyObjectInput>;
  cert?: PemInput;
  passphrase?: string;
  ca?: PemInput;
  crl?: PemInput;
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
  /** OpenSSL cipher list for TLS <= 1.2. */
  ciphers?: string;
  /** TLS 1.3 ciphersuites, colon separated. */
  ciphersuites?: string;
  /** Key exchange groups, colon separated (node's ecdhCurve). 'auto' keeps OpenSSL's default. */
  ecdhCurve?: string;
  ALPNProtocols?: ReadonlyArray<string> | Buffer;
  sessionIdContext?: string | Buffer;
  /** Seconds a session (ticket) stays resumable. */
  sessionTimeout?: number;
  /** 80 bytes in OpenSSL's layout: 16 name, 32 HMAC secret, 32 AES secret. */
  ticketKeys?: Buffer;
  /** What a CRL past its nextUpdate means: 'strict' fails verification, 'best-effort' (default) keeps using it. */
  revocation?: RevocationMode;
}

export interface VerifyOutcome {
  ok: boolean;
  /** node-style verification error code, e.g. 'CERT_REVOKED'. */
  code?: string;
  error?: string;
}

const kHandle = Symbol('continuous-tls.secureContextHandle');
/** Every SecureContext this library built: a prototype alone (Object.create) is not one. */
const constructed = new WeakSet<object>();
const kRemembered = Symbol('continuous-tls.rememberedChains');
const TLS_VERSIONS: readonly TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];
const PURPOSES = ['sslclient', 'sslserver'] as const;
const REVOCATION_MODES: readonly RevocationMode[] = ['strict', 'best-effort'];
const versionNumbers = native.versions;
const NEWLINE = Buffer.from('\n');

export class SecureContext {
  readonly [kHandle]: NativeSecureContext;
  /**
   * The intermediates leaves were verified with here, for their resumed sessions: shared with the
   * contexts built with the same CAs, and kept across this context's trust changes (a resumed leaf
   * is verified with them under the trust of the moment).
   */
  readonly [kRemembered]: RememberedChains;
  readonly isServer: boolean;
  #ca: Buffer | undefined;
  #crl: Buffer | undefined;
  /** CRLs shared by a fleet, applied beside this context's own (see setSharedCrls). */
  #sharedCrl: Buffer | undefined;
  #crlInfo: CrlInfo[] = [];
  #revocation: RevocationMode;
  #usesDefaultRoots: boolean;
  #trustGeneration = 0;
  #trustListeners = new Set<() => void>();

  constructor(options: SecureContextOptions = {}, isServer = false) {
    checkObject('options', options);
    this.isServer = isServer;
    this[kHandle] = new native.SecureContext(isServer);
    constructed.add(this);
    this.#revocation = checkOneOf('revocation', options.revocation, REVOCATION_MODES, 'best-effort');
    this.#configureVersions(options);
    this.#configureCiphers(options);
    this.#configureIdentity(options);
    this.#ca = pemBuffer('ca', options.ca);
    this.#crl = pemBuffer('crl', options.crl);
    this.#usesDefaultRoots = usesDefaultRoots(options.ca, isServer);
    this.#applyTrust();
    this[kRemembered] = rememberedChainsFor(this.#ca, this.#usesDefaultRoots);
    this.#configureSessions(options);
  }

  /**
   * Replace the trusted CAs; new verifications (and revalidations) use them at once, and every
   * engine deciding connections served with this context re-decides them.
   */
  setCa(ca: PemInput | undefined): void {
    const previous = this.#ca;
    this.#ca = pemBuffer('ca', ca);
    this.#usesDefaultRoots = usesDefaultRoots(ca, this.isServer);
    try {
      this.#applyTrust();
    } catch (error) {
      this.#ca = previous;
      throw error;
    }
    this.#trustChanged();
  }

  /** Replace the CRLs; like setCa(), live connections served with this context are re-decided. */
  setCrl(crl: PemInput | undefined): void {
    const previous = this.#crl;
    this.#crl = pemBuffer('crl', crl);
    try {
      this.#applyTrust();
    } catch (error) {
      this.#crl = previous;
      throw error;
    }
    this.#trustChanged();
  }

  /**
   * CRLs that arrive from outside this context's owner (a fleet's feed), kept apart from the
   * context's own so neither replaces the other; applied exactly as setCrl() applies a list
   * (every CA of a chain then needs a CRL, stale ones follow `revocation`).
   */
  setSharedCrls(pems: readonly Buffer[]): void {
    // Each list must parse on its own: appended to this context's own, text that is no CRL at all
    // would otherwise pass unnoticed behind a good one.
    for (const pem of pems) native.crlInfo(pem, false);
    const previous = this.#sharedCrl;
    this.#sharedCrl = pems.length === 0 ? undefined : Buffer.concat(pems.flatMap((pem) => [pem, NEWLINE]));
    try {
      this.#applyTrust();
    } catch (error) {
      this.#sharedCrl = previous;
      throw error;
    }
    this.#trustChanged();
  }

  setRevocation(mode: RevocationMode): void {
    this.#revocation = checkOneOf('revocation', mode, REVOCATION_MODES, 'best-effort');
    this.#applyTrust();
    this.#trustChanged();
  }

  /**
   * Counts trust changes (CA, CRL, revocation mode). A verdict about a chain names the generation
   * it was made under and is reused only while the generation is still the current one.
   */
  get trustGeneration(): number {
    return this.#trustGeneration;
  }

  /** Calls `listener` synchronously after every trust change; returns the unsubscribe function. */
  onTrustChange(listener: () => void): () => void {
    this.#trustListeners.add(listener);
    return () => this.#trustListeners.delete(listener);
  }

  #trustChanged(): void {
    this.#trustGeneration++;
    for (const listener of [...this.#trustListeners]) listener();
  }

  get revocation(): RevocationMode {
    return this.#revocation;
  }

  /** Facts about the CRLs in force: issuer, lastUpdate, nextUpdate, revoked serials. */
  get crls(): readonly CrlInfo[] {
    return this.#crlInfo;
  }

  /** CRLs whose nextUpdate has come at `now` (RFC 5280 section 5.1.2.5): a decision relying on one lapses then. */
  staleCrls(now = Date.now()): CrlInfo[] {
    return this.#crlInfo.filter((crl) => crl.nextUpdate !== null && crl.nextUpdate <= now);
  }

  /**
   * Verifies a presented chain (leaf first) against the current store, CRLs and
   * clock, with no handshake. Purpose 'sslclient' checks a client certificate.
   */
  verifyChain(
    chain: ReadonlyArray<Buffer | X509Certificate>,
    purpose: 'sslclient' | 'sslserver' = 'sslclient',
  ): VerifyOutcome {
    if (!Array.isArray(chain) || !chain.every((item) => Buffer.isBuffer(item) || item instanceof X509Certificate)) {
      throw invalidOption('chain', 'an array of DER Buffers or X509Certificates, leaf first', chain);
    }
    const checked = checkOneOf('purpose', purpose, PURPOSES, 'sslclient');
    const outcome = verifyWithHorizon(this, chain, checked);
    if (outcome.ok) return { ok: true };
    return outcome;
  }

  /** Remembers the chain OpenSSL verified under this context (leaf first, anchor last). Internal. */
  rememberVerifiedChain(verified: readonly Buffer[]): void {
    this[kRemembered].rememberVerified(verified);
  }

  get ticketKeys(): Buffer | undefined {
    return this[kHandle].getTicketKeys();
  }

  setTicketKeys(keys: Buffer): void {
    if (!Buffer.isBuffer(keys) || keys.length !== 80) throw invalidOption('ticketKeys', 'an 80-byte Buffer', keys);
    this[kHandle].setTicketKeys(keys);
  }

  #applyTrust(): void {
    const ca = this.#usesDefaultRoots ? Buffer.from(tls.rootCertificates.join('\n')) : this.#ca;
    const own = this.#crl;
    const shared = this.#sharedCrl;
    const crl = shared === undefined ? own : own === undefined ? shared : Buffer.concat([own, NEWLINE, shared]);
    let facts: Array<Omit<CrlInfo, 'revoked'>> = [];
    // The addon says which input ('ca' or 'crl') it could not parse.
    wrapPemErrors(
      // With CRLs configured every certificate of the chain is checked, intermediates included,
      // as node:tls does: a revoked intermediate CA revokes everything under it (RFC 5280 6.3).
      () =>
        (facts = this[kHandle].setTrust(ca, crl, {
          crlCheckAll: true,
          allowStaleCrl: this.#revocation === 'best-effort',
        })),
      (which) => which,
    );
    this.#crlInfo = crl === undefined ? [] : withLazySerials(crl, facts);
  }

  #configureVersions(options: SecureContextOptions): void {
    const min = versionNumbers[checkOneOf('minVersion', options.minVersion, TLS_VERSIONS, 'TLSv1.2')];
    const max = versionNumbers[checkOneOf('maxVersion', options.maxVersion, TLS_VERSIONS, 'TLSv1.3')];
    if (min > max)
      throw invalidOption('minVersion', `not above maxVersion (${options.maxVersion})`, options.minVersion);
    this[kHandle].setVersions(min, max);
  }

  #configureCiphers(options: SecureContextOptions): void {
    const handle = this[kHandle];
    const ciphers = checkString('ciphers', options.ciphers, { nonEmpty: true });
    if (ciphers !== undefined) rejectedBy('ciphers', () => handle.setCiphers(ciphers));
    const ciphersuites = checkString('ciphersuites', options.ciphersuites, { nonEmpty: true });
    if (ciphersuites !== undefined) rejectedBy('ciphersuites', () => handle.setCiphersuites(ciphersuites));
    const groups = checkString('ecdhCurve', options.ecdhCurve, { nonEmpty: true });
    if (groups !== undefined && groups !== 'auto') rejectedBy('ecdhCurve', () => handle.setGroups(groups));
    if (options.ALPNProtocols !== undefined) handle.setAlpnProtocols(alpnWire(options.ALPNProtocols));
  }

  #configureIdentity(options: SecureContextOptions): void {
    const keys = options.key === undefined ? [] : Array.isArray(options.key) ? options.key : [options.key];
    const certs = options.cert === undefined ? [] : Array.isArray(options.cert) ? options.cert : [options.cert];
    if (keys.length !== certs.length) {
      throw invalidOption('key', `as many entries as "cert" (${certs.length})`, `${keys.length} entries`);
    }
    checkString('passphrase', options.passphrase, { nonEmpty: true });
    keys.forEach((entry: string | Buffer | KeyObjectInput, index: number) => {
      const name = keys.length > 1 ? `key[${index}]` : 'key';
      const isObject = typeof entry === 'object' && !Buffer.isBuffer(entry);
      const key = pemBuffer(name, isObject ? (entry as KeyObjectInput).pem : entry);
      const certName = keys.length > 1 ? `cert[${index}]` : 'cert';
      const cert = pemBuffer(certName, certs[index]);
      const passphrase = isObject ? ((entry as KeyObjectInput).passphrase ?? options.passphrase) : options.passphrase;
      if (key === undefined || cert === undefined) throw invalidOption(name, 'a PEM key with a matching cert', entry);
      wrapPemErrors(
        () => this[kHandle].addIdentity(key, cert, passphrase),
        (which) => (which === 'cert' ? certName : name),
      );
    });
  }

  #configureSessions(options: SecureContextOptions): void {
    const handle = this[kHandle];
    if (options.sessionIdContext !== undefined) {
      const context =
        typeof options.sessionIdContext === 'string' ? Buffer.from(options.sessionIdContext) : options.sessionIdContext;
      if (!Buffer.isBuffer(context))
        throw invalidOption('sessionIdContext', 'a string or Buffer', options.sessionIdContext);
      handle.setSessionIdContext(context);
    }
    // In seconds, as node:tls takes it.
    const sessionTimeout = checkCount('sessionTimeout', options.sessionTimeout, undefined, { min: 0 });
    if (sessionTimeout !== undefined) handle.setSessionTimeout(sessionTimeout);
    if (options.ticketKeys !== undefined) this.setTicketKeys(options.ticketKeys);
  }
}

/**
 * verifyChain, plus (when it verified) the earliest notAfter of the chain OpenSSL built: CAs and
 * intermediates taken from the store expire too, and a decision on the chain must lapse with them.
 * Internal to the library.
 */
export function verifyWithHorizon(
  context: SecureContext,
  chain: ReadonlyArray<Buffer | X509Certificate>,
  purpose: 'sslclient' | 'sslserver',
): HorizonOutcome {
  const der = derOf(chain);
  if (der.length === 0) return nothingPresented();
  return horizonOutcome(context[kHandle].verifyChain(der, purpose, rememberedFor(context, der)));
}

/** A batch of verifyManyWithHorizon(): its outcomes, and the controls of this batch alone. */
export interface HorizonBatch {
  outcomes: Promise<Array<HorizonOutcome | undefined>>;
  /** Stops the batch before its next chain; the chains it did not get to come back undefined. */
  abandon(): void;
  /** How many of its workers the pool has begun to run (0: it waits behind other pool work). */
  started(): number;
}

/**
 * verifyWithHorizon() for many chains at once, against the trust in force at the call, verified on
 * libuv's pool while the event loop goes on, with all batches of the process holding at most
 * `threads` pool threads. Undefined when they hold that many already (nothing was started), and
 * undefined in place of each chain the batch skipped once abandoned (its abandon(),
 * abandonBatches(), or a new store). Internal to the library.
 */
export function verifyManyWithHorizon(
  context: SecureContext,
  chains: ReadonlyArray<{ chain: ReadonlyArray<Buffer | X509Certificate>; purpose: 'sslclient' | 'sslserver' }>,
  threads: number,
): HorizonBatch | undefined {
  const items: Array<[Buffer[], 'sslclient' | 'sslserver', Buffer[] | undefined]> = [];
  const slots: number[] = [];
  const out: Array<HorizonOutcome | undefined> = chains.map(({ chain, purpose }, index) => {
    const der = derOf(chain);
    if (der.length > 0) {
      slots.push(index);
      items.push([der, purpose, rememberedFor(context, der)]);
    }
    return nothingPresented();
  });
  if (items.length === 0) {
    return { outcomes: Promise.resolve(out), abandon: () => {}, started: () => 0 };
  }
  const batch = context[kHandle].verifyChains(items, threads);
  if (batch === undefined) return undefined;
  const outcomes = batch.then((results) => {
    slots.forEach((index, i) => {
      const result = results[i];
      out[index] = result === null || result === undefined ? undefined : horizonOutcome(result);
    });
    return out;
  });
  return {
    outcomes,
    abandon: () => batch.abandon(),
    started: () => batch.started(),
  };
}

type HorizonOutcome = VerifyOutcome & { notAfter?: number; chain?: Buffer[] };

function nothingPresented(): HorizonOutcome {
  return { ok: false, code: 'NO_PEER_CERTIFICATE', error: 'no certificate was presented' };
}

function derOf(chain: ReadonlyArray<Buffer | X509Certificate>): Buffer[] {
  return chain.map((item) => (item instanceof X509Certificate ? item.raw : item));
}

/** A lone leaf (a resumed session) gets the intermediates it was verified with; a presented chain carries its own. */
function rememberedFor(context: SecureContext, der: Buffer[]): Buffer[] | undefined {
  const remembered = der.length === 1 ? context[kRemembered].recall(der[0]!) : undefined;
  return remembered === undefined || remembered.length === 0 ? undefined : [...remembered];
}

function horizonOutcome(result: NativeVerifyResult): HorizonOutcome {
  if (result.ok) {
    const verified: HorizonOutcome = { ok: true };
    if (result.notAfter !== undefined) verified.notAfter = result.notAfter;
    if (result.chain !== undefined) verified.chain = result.chain;
    return verified;
  }
  return { ok: false, code: result.code ?? 'UNSPECIFIED', error: result.error ?? 'verification failed' };
}

/** Whether `value` is a SecureContext this library constructed (not only one by prototype). */
export function isSecureContext(value: unknown): value is SecureContext {
  return typeof value === 'object' && value !== null && constructed.has(value);
}

/** The native handle behind a SecureContext (internal to the library). */
export function contextHandle(context: SecureContext): NativeSecureContext {
  return context[kHandle];
}

/**
 * Whether a context trusts the public roots: a client's that was given no `ca`, as in node:tls.
 * An empty array is a `ca` that names nothing, so it trusts nothing (node's `ca: []` does the same).
 */
function usesDefaultRoots(ca: PemInput | undefined, isServer: boolean): boolean {
  return !isServer && (ca === undefined || ca === null);
}

export function createSecureContext(options: SecureContextOptions = {}, isServer = false): SecureContext {
  return new SecureContext(options, isServer);
}

/** RFC 7301 wire format: each protocol name prefixed with its length byte. */
export function alpnWire(protocols: ReadonlyArray<string> | Buffer): Buffer {
  if (Buffer.isBuffer(protocols)) return protocols;
  if (!Array.isArray(protocols)) throw invalidOption('ALPNProtocols', 'an array of strings or a Buffer', protocols);
  const parts: Buffer[] = [];
  for (const protocol of protocols) {
    if (typeof protocol !== 'string' || protocol.length === 0 || Buffer.byteLength(protocol) > 255) {
      throw invalidOption('ALPNProtocols', 'strings of 1 to 255 bytes', protocol);
    }
    const name = Buffer.from(protocol);
    parts.push(Buffer.from([name.length]), name);
  }
  return Buffer.concat(parts);
}

/**
 * Adds `revoked` to the facts of the CRLs in `pem`, read from the PEM only
 * when somebody asks: a CRL may list millions of serials, which as JS strings
 * would cost more time and memory than OpenSSL's own copy. Revocation is
 * enforced by OpenSSL's store, never from this list.
 */
function withLazySerials(pem: Buffer, facts: Array<Omit<CrlInfo, 'revoked'>>): CrlInfo[] {
  let serials: string[][] | null = null;
  return facts.map((crl, index) =>
    Object.defineProperty({ ...crl } as CrlInfo, 'revoked', {
      enumerable: true,
      get(): string[] {
        serials ??= native.crlInfo(pem, true).map((full) => full.revoked);
        return serials[index] ?? [];
      },
    }),
  );
}

type NativeError = Error & { code?: string; reason?: string; library?: string; opensslCode?: number; option?: string };

/**
 * Runs a native PEM-consuming call; its error is re-coded and names the
 * option, chosen by `optionName` from the input the addon reports as bad.
 */
function wrapPemErrors(action: () => void, optionName: (which: string | undefined) => string | undefined): void {
  try {
    action();
  } catch (error) {
    throw asPemError(error, optionName);
  }
}

/** Runs a native setter whose OpenSSL error only says why, and names the option in it. */
function rejectedBy(option: string, action: () => void): void {
  try {
    action();
  } catch (error) {
    const err = error as NativeError;
    if (err instanceof ContinuousTlsError) throw err;
    throw ctlsError(
      'ERR_CTLS_INVALID_OPTION',
      `The "${option}" option is invalid: ${err.reason ?? err.message}`,
      opensslFields(err),
    );
  }
}

function asPemError(error: unknown, optionName: (which: string | undefined) => string | undefined): Error {
  const err = error as NativeError;
  if (err instanceof ContinuousTlsError) return err;
  const code = err.code === 'ERR_CTLS_INVALID_OPTION' ? 'ERR_CTLS_INVALID_OPTION' : 'ERR_CTLS_BAD_PEM';
  const option = optionName(err.option);
  const where = option === undefined ? '' : ` in option "${option}"`;
  return ctlsError(code, `${err.message}${where}`, opensslFields(err));
}
