/**
 * Loads the addon and gives it a typed face. Nothing else in lib/ touches the
 * raw module. The addon is looked up where node-gyp and cmake-js put it.
 */
import * as path from 'node:path';
import { ctlsError } from '../common/errors.js';

export interface NativeVerifyResult {
  ok: boolean;
  code: string | null;
  error: string | null;
  depth: number;
  /** When ok: the earliest notAfter (epoch ms) of the verified chain, anchor included. */
  notAfter?: number;
  /** When ok: the chain OpenSSL built, DER, leaf first and anchor last. */
  chain?: Buffer[];
}

export interface NativeSecureContext {
  addIdentity(key: Buffer, certChain: Buffer, passphrase?: string): void;
  /** Returns the facts of the CRLs now in force (no serials: see CrlInfo.revoked). */
  setTrust(
    ca: Buffer | undefined,
    crl: Buffer | undefined,
    flags: { crlCheckAll: boolean; allowStaleCrl: boolean },
  ): Array<Omit<CrlInfo, 'revoked'>>;
  setVersions(min: number, max: number): void;
  setCiphers(list: string): void;
  setCiphersuites(list: string): void;
  setGroups(list: string): void;
  setAlpnProtocols(wire: Buffer): void;
  setSessionIdContext(context: Buffer): void;
  setSessionTimeout(seconds: number): void;
  setTicketKeys(keys: Buffer): void;
  getTicketKeys(): Buffer | undefined;
  enableClientHelloPause(): void;
  verifyChain(chain: Buffer[], purpose: 'sslclient' | 'sslserver', extraUntrusted?: Buffer[]): NativeVerifyResult;
  /**
   * verifyChain() for each item on libuv's pool, against the store in force at the call, while all
   * the process's batches hold at most `threads` pool threads; undefined (nothing started) when
   * they hold that many already. null in place of each chain the batch skipped once abandoned (a
   * new store, abandonBatches(), or the promise's own abandon()). The verified-chain cache is not
   * read; clean successes are kept in it.
   */
  verifyChains(
    items: Array<[chain: Buffer[], purpose: 'sslclient' | 'sslserver', extraUntrusted?: Buffer[]]>,
    threads: number,
  ): NativeChainBatch | undefined;
  /** The batches out for this context stop before their next chain. */
  abandonBatches(): void;
  /** Sizes of the decoded-certificate and verified-chain caches, and the verifications the latter answered. */
  cacheStats(): { decoded: number; verified: number; verifiedHits: number };
}

/** A batch of verifyChains(): its answers, and the controls of this batch alone. */
export interface NativeChainBatch extends Promise<Array<NativeVerifyResult | null>> {
  /** Stops this batch before its next chain (other batches of the context go on). */
  abandon(): void;
  /** How many of its workers the pool has begun to run (0: it waits behind other pool work). */
  started(): number;
}

export interface NativeConnectionInfo {
  protocol?: string;
  cipher?: { name: string; standardName: string; version: string };
  alpnProtocol?: string;
  servername?: string;
  sessionReused?: boolean;
  handshakeDone?: boolean;
  reauthPending?: boolean;
  staleCrlSeen?: boolean;
  version?: number;
}

/** An error the engine reports: OpenSSL's, with verification details where a certificate failed. */
export type NativeError = Error & Record<string, unknown>;

/**
 * [plaintext, ciphertext, events, error, placed, own]: `placed` plaintext bytes went to the start of
 * the input chunk (inPlace), ahead of `plaintext`; `own`, when not null, is those bytes in a Buffer
 * of their own size (few next to the chunk's memory, which may then be detached: use `own`, not
 * the chunk). See native/tls_connection.cc.
 */
export type CycleResult = [
  Buffer | null,
  Buffer | null,
  number,
  (Error & Record<string, unknown>) | null,
  number,
  Buffer | null,
];
/**
 * [null, ciphertext, events, error, consumed, placed]: `placed` bytes went into the lent `out`
 * buffer instead of `ciphertext`.
 */
export type WriteResult = [null, Buffer | null, number, (Error & Record<string, unknown>) | null, number, number];

/**
 * `flowing` alone when everything was sealed with no event and no error (the common case), else
 * [events, error, consumed, flowing]: see send() in native/tls_connection_transport.cc.
 */
export type SendResult = boolean | [number, NativeError | null, number, boolean];

/** What the addon reports about a socket it owns (native/tls_connection_transport.cc). */
export const transportCalls = { read: 0, end: 1, error: 2, drain: 3, shutdown: 4 } as const;
export type TransportCallback = (kind: number, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown) => void;

export interface NativeTlsConnection {
  cycle(ciphertext?: Buffer, endOfInput?: boolean, inPlace?: boolean): CycleResult;
  write(data: Buffer | Buffer[], out?: Buffer): WriteResult;
  shutdown(): Buffer | null;
  /** A fatal alert with this description (RFC 8446 section 6.2), or null where none can be sent. */
  sendFatalAlert(description: number): Buffer | null;
  /** Whether the last certificate verification ran under the trust the context holds now. */
  verifiedUnderCurrentTrust(): boolean;
  /** The earliest notAfter (epoch ms) of the chain OpenSSL built for the peer, anchor included. */
  verifiedNotAfter(): number | null;
  requestCertificate(): Buffer | null;
  setContext(context?: NativeSecureContext): void;
  setIdentity(key: Buffer, certChain: Buffer, passphrase?: string): void;
  /** Answers the certificate request that paused the handshake with the identity set now. */
  resumeIdentity(): void;
  destroy(): void;
  getInfo(): NativeConnectionInfo;
  getPeerChain(): Buffer[];
  getVerifiedChain(): Buffer[];
  getOwnCertificate(): Buffer | null;
  getSession(): Buffer | null;
  getVerifyError(): { code: string; message: string; depth: number } | null;
  exportKeyingMaterial(length: number, label: string, context?: Buffer): Buffer;
  /** Takes over the socket on a dup of `fd`: 0, or a negative errno when it cannot be opened. */
  attachTransport(fd: number, callback: TransportCallback): number;
  /** Seals and writes to the attached socket. */
  send(data: Buffer | Buffer[]): SendResult;
  /** 0, or a negative errno when reading cannot start. */
  setReading(reading: boolean): number;
  /** Half-closes the attached socket once its queue is written: 0, or a negative errno now. */
  endTransport(): number;
  setTransportRef(ref: boolean): void;
  /** Closes the attached socket, keeping the TLS state. */
  closeTransport(): void;
  /** [queued, bytesRead, bytesWritten] of the attached socket, or null. */
  transportStats(): [number, number, number] | null;
}

export interface CrlInfo {
  /** The issuer in RFC 2253 (most specific first; a type OpenSSL has no name for dumped as #hex DER). */
  issuer: string;
  /** The issuer as node's X509Certificate#issuer prints a name: compare it with a certificate's issuer. */
  issuerText: string;
  /** The DER value of the CRL's issuingDistributionPoint extension in upper-case hex, or null. */
  distributionPoint: string | null;
  /** The DER value of the CRL's authorityKeyIdentifier extension in upper-case hex, or null. */
  authorityKeyId: string | null;
  lastUpdate: number;
  nextUpdate: number | null;
  /** How many serials the CRL lists. */
  revokedCount: number;
  /** The serials it lists, upper-case hex (read from the CRL on first access). */
  readonly revoked: string[];
}

/** How a TlsConnection is opened (see native/tls_connection.cc). */
export interface NativeConnectionOptions {
  servername?: string;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  offerPostHandshakeAuth?: boolean;
  session?: Buffer;
  /** Client: pause at each certificate request (events.identityWanted) until resumeIdentity(). */
  askIdentity?: boolean;
}

interface NativeModule {
  opensslVersion: string;
  opensslVersionNumber: number;
  SecureContext: new (isServer: boolean) => NativeSecureContext;
  TlsConnection: new (
    context: NativeSecureContext,
    isServer: boolean,
    options: NativeConnectionOptions,
  ) => NativeTlsConnection;
  crlInfo(pem: Buffer, withSerials?: true): CrlInfo[];
  crlInfo(pem: Buffer, withSerials: false): Array<Omit<CrlInfo, 'revoked'>>;
  /** What node loads from one item of its `ca` or `crl` option, as PEM text ('' when nothing). */
  nodeTrustItem(kind: 'ca' | 'crl', pem: Buffer): string;
  /** A fresh in-memory client identity for a process-local probe: leaf first, then its CA (one hour). */
  throwawayIdentity(commonName: string): { key: string; chain: string };
  /** The process's soft limit on open descriptors when it was loaded; Infinity where there is none. */
  descriptorLimit: number;
  versions: Record<'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3', number>;
  events: {
    handshakeDone: number;
    reauthDone: number;
    closeNotify: number;
    newSession: number;
    clientHello: number;
    fatal: number;
    writeBlocked: number;
    identityWanted: number;
  };
}

/**
 * The addon is found in this order: CONTINUOUS_TLS_ADDON (a sanitizer build, say), then whatever
 * node-gyp-build picks for this platform: a local build (build/Release, build/Debug) before a
 * prebuilt binary (prebuilds/<platform>-<arch>/, Node-API, so one binary serves every Node line).
 */
function load(): NativeModule {
  const root = path.join(__dirname, '..', '..');
  const candidates: string[] = [];
  const failures: string[] = [];
  const override = process.env['CONTINUOUS_TLS_ADDON'];
  if (override !== undefined && override.length > 0) candidates.push(override);
  try {
    const resolve = require('node-gyp-build') as { path(dir: string): string };
    candidates.push(resolve.path(root));
  } catch (error) {
    failures.push(`${root}: ${(error as Error).message.split('\n')[0]}`);
  }
  for (const candidate of candidates) {
    try {
      return require(candidate) as NativeModule;
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      // The addon refuses an OpenSSL older than 3.0 with its own code.
      if (err.code === 'ERR_CTLS_OPENSSL_TOO_OLD') throw err;
      failures.push(`${candidate}: ${err.message.split('\n')[0]}`);
    }
  }
  throw ctlsError(
    'ERR_CTLS_NATIVE_LOAD',
    'The continuous-tls addon could not be loaded: no prebuilt binary matches this platform and no local build ' +
      `was found. Run \`npm rebuild continuous-tls\` (needs a C++ toolchain). Tried:\n  ${failures.join('\n  ')}`,
  );
}

export const native: NativeModule = load();
export const opensslVersion: string = native.opensslVersion;
