/**
 * A development certificate authority: short-lived certificates and CRLs made in-process, for the
 * demo and the tests. Not for production — the keys live in memory and nothing is persisted.
 * One class with its issuing, revocation and CRL state, so one file (the x509 loader is x509.ts).
 *
 * The certificates carry the extensions OpenSSL 3.0 insists on under X509_V_FLAG_X509_STRICT
 * (critical basicConstraints and a keyUsage on CAs, subject/authority key identifiers everywhere,
 * see check_extensions() in crypto/x509/x509_vfy.c), so they verify the same way in node:tls, in the
 * addon and in the openssl CLI.
 */
import type * as X509 from '@peculiar/x509';
import { KeyObject, X509Certificate, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { invalidOption } from '../common/errors.js';
import { loadX509 } from './x509.js';
import { subjectName, type SubjectFields } from './subject-name.js';
export type { SubjectFields } from './subject-name.js';
import { checkBoolean, checkDuration, checkObject, checkOneOf, checkString } from '../common/validate.js';

export type KeyType = 'ec' | 'rsa';
export type RevocationReason = 'keyCompromise' | 'superseded' | 'cessationOfOperation' | 'unspecified';

export interface IssuedIdentity {
  /** Private key, PKCS#8 PEM. */
  key: string;
  /** The leaf certificate, PEM. */
  cert: string;
  /** Leaf followed by the intermediates: what a TLS peer presents. */
  chain: string;
  /** Uppercase hex, exactly as crypto.X509Certificate#serialNumber prints it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** As crypto.X509Certificate#fingerprint256 prints it. */
  fingerprint256: string;
}

export interface IssueOptions {
  commonName: string;
  /** 'localhost', '127.0.0.1', '::1', 'spiffe://…', 'ada@example.com': a DNS, IP, URI or email name by shape. */
  altNames?: string[];
  /**
   * Lifetime counted from `notBefore` when given, else from now (the backdating for clock skew does
   * not eat into it). X.509 times have whole seconds, so notAfter is rounded down to a second.
   * Default 24 h.
   */
  validityMs?: number;
  /** Default: now - 60 s, so a peer whose clock is a little behind still accepts the certificate. */
  notBefore?: Date;
  keyType?: KeyType;
  /**
   * Subject attributes beside CN, e.g. `{ O: 'Example', OU: ['Payments'], C: 'SE' }`: what policies
   * match with `subject.split('\n').includes('O=Example')`. See subject-name.ts for what is accepted.
   */
  subject?: SubjectFields;
}

export interface CreateCAOptions {
  commonName?: string;
  /** Lifetime of the CA certificates. Default 365 days. */
  validityMs?: number;
  /** root -> intermediate -> leaves (default true), or leaves signed by the root itself. */
  intermediate?: boolean;
  keyType?: KeyType;
}

export interface CrlOptions {
  /** How long until the CRL's nextUpdate, counted like IssueOptions.validityMs. Default 1 h. */
  nextUpdateMs?: number;
  /** Default: now - 60 s (clock skew, as for certificates). */
  thisUpdate?: Date;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const CLOCK_SKEW_MS = 60_000;
const OID_CRL_NUMBER = '2.5.29.20';
const OID_CRL_REASON = '2.5.29.21';

const KEY_ALGORITHMS = {
  ec: { name: 'ECDSA', namedCurve: 'P-256' },
  rsa: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
} as const;
const SIGNING_ALGORITHMS = {
  ec: { name: 'ECDSA', hash: 'SHA-256' },
  rsa: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
} as const;

const REASONS: readonly RevocationReason[] = ['keyCompromise', 'superseded', 'cessationOfOperation', 'unspecified'];
const KEY_TYPES: readonly KeyType[] = ['ec', 'rsa'];

type KeyPair = webcrypto.CryptoKeyPair;
type PeculiarKey = X509.X509CertificateCreateWithKeyParams['signingKey'];

/** A signing CA: its certificate, keys and its own CRL number sequence (RFC 5280 5.2.3). */
interface Authority {
  readonly cert: X509.X509Certificate;
  readonly pem: string;
  readonly keys: KeyPair;
  readonly keyType: KeyType;
  readonly keyId: string;
  crlNumber: bigint;
}

interface Revocation {
  readonly date: Date;
  readonly reason: RevocationReason;
}

export class DevelopmentCA {
  /** PEM of the trust anchor: what goes in `ca`. */
  readonly rootCert: string;
  /** PEM of the intermediate; empty when the root signs leaves itself. */
  readonly issuerChain: string;

  readonly #root: Authority;
  readonly #issuer: Authority;
  readonly #revoked = new Map<string, Revocation>();
  #intermediateRevoked: Revocation | null = null;

  private constructor(root: Authority, issuer: Authority) {
    this.#root = root;
    this.#issuer = issuer;
    this.rootCert = root.pem;
    this.issuerChain = issuer === root ? '' : issuer.pem;
  }

  static async create(options: CreateCAOptions = {}): Promise<DevelopmentCA> {
    const o = checkObject('options', options) ?? {};
    const intermediate = checkBoolean('intermediate', o.intermediate, true);
    const keyType = checkOneOf('keyType', o.keyType, KEY_TYPES, 'ec');
    const validityMs = checkDuration('validityMs', o.validityMs, 365 * DAY_MS);
    // A random suffix keeps two default CAs apart: OpenSSL finds issuers and CRLs by name first.
    const commonName =
      checkString('commonName', o.commonName, { nonEmpty: true }) ??
      `continuous-tls development CA ${randomBytes(3).toString('hex')}`;

    const now = Date.now();
    const notBefore = wholeSecond(now - CLOCK_SKEW_MS);
    const notAfter = wholeSecond(now + validityMs);
    const root = await createAuthority({ commonName, keyType, notBefore, notAfter, pathLength: undefined });
    if (!intermediate) return new DevelopmentCA(root, root);
    const issuer = await createAuthority({
      commonName: `${commonName} intermediate`,
      keyType,
      notBefore,
      notAfter,
      pathLength: 0,
      parent: root,
    });
    return new DevelopmentCA(root, issuer);
  }

  /** A TLS server identity: EKU serverAuth, SAN from altNames (default localhost and 127.0.0.1). */
  issueServer(options: IssueOptions): Promise<IssuedIdentity> {
    return this.#issue(options, 'server');
  }

  /** A TLS client identity: EKU clientAuth, SAN only when altNames are given. */
  issueClient(options: IssueOptions): Promise<IssuedIdentity> {
    return this.#issue(options, 'client');
  }

  /** Marks a serial as revoked; the next crl() lists it. Revoking twice keeps the first date. */
  revoke(serial: string, reason: RevocationReason = 'unspecified'): void {
    const key = normalizeSerial(serial);
    checkOneOf('reason', reason, REASONS);
    const previous = this.#revoked.get(key);
    this.#revoked.set(key, { date: previous?.date ?? new Date(wholeSecond(Date.now())), reason });
  }

  isRevoked(serial: string): boolean {
    return this.#revoked.has(normalizeSerial(serial));
  }

  /** The CRL of the CA that issues leaves, listing every revoked serial. */
  crl(options: CrlOptions = {}): Promise<string> {
    return signCrl(this.#issuer, this.#revoked, options);
  }

  /**
   * The root's CRL. With an intermediate it lists the intermediate once revokeIntermediate() was
   * called, and must exist either way: X509_V_FLAG_CRL_CHECK_ALL, which node:tls and this library
   * set with `crl`, wants a CRL for every CA in the chain. Without an intermediate the root issues
   * the leaves, so this equals crl().
   */
  rootCrl(options: CrlOptions = {}): Promise<string> {
    if (this.#issuer === this.#root) return signCrl(this.#root, this.#revoked, options);
    const revoked = new Map<string, Revocation>();
    if (this.#intermediateRevoked !== null)
      revoked.set(normalizeSerial(this.#issuer.cert.serialNumber), this.#intermediateRevoked);
    return signCrl(this.#root, revoked, options);
  }

  /**
   * Every CRL a verifier that checks the whole chain needs, as one PEM: the issuing CA's, then
   * (with an intermediate) the root's. This is what `crl` / setCrl() want.
   */
  async crls(options: CrlOptions = {}): Promise<string> {
    if (this.#issuer === this.#root) return this.crl(options);
    const [issuing, root] = await Promise.all([this.crl(options), this.rootCrl(options)]);
    return issuing + root;
  }

  /** Revokes the intermediate CA itself: the root's CRL lists it, which revokes every leaf under it. */
  revokeIntermediate(reason: RevocationReason = 'unspecified'): void {
    if (this.#issuer === this.#root)
      throw invalidOption('revokeIntermediate', 'a CA created with an intermediate', 'no intermediate');
    checkOneOf('reason', reason, REASONS);
    this.#intermediateRevoked ??= { date: new Date(wholeSecond(Date.now())), reason };
  }

  /** Takes back revokeIntermediate() (a CRL is a snapshot: the next rootCrl() omits it). */
  unrevokeIntermediate(): void {
    this.#intermediateRevoked = null;
  }

  /** Takes a serial off the revocation list (the next crl() omits it). */
  unrevoke(serial: string): void {
    this.#revoked.delete(normalizeSerial(serial));
  }

  async #issue(options: IssueOptions, role: 'server' | 'client'): Promise<IssuedIdentity> {
    if (checkObject('options', options) === undefined) throw invalidOption('options', 'an object', options);
    const { commonName } = options;
    if (checkString('commonName', commonName, { nonEmpty: true }) === undefined)
      throw invalidOption('commonName', 'a non-empty string');
    const keyType = checkOneOf('keyType', options.keyType, KEY_TYPES, 'ec');
    const validityMs = checkDuration('validityMs', options.validityMs, DAY_MS);
    const altNames = options.altNames ?? (role === 'server' ? ['localhost', '127.0.0.1'] : []);
    if (!Array.isArray(altNames) || !altNames.every((n) => typeof n === 'string' && n.length > 0)) {
      throw invalidOption('altNames', 'an array of non-empty strings', altNames);
    }
    const { notBefore, notAfter } = leafValidity(options.notBefore, validityMs);
    const subject = subjectName(commonName, options.subject);

    const issuer = this.#issuer;
    const x509 = loadX509();
    const keys = await generateKeys(keyType);
    // RSA key exchange (TLS 1.2 non-ECDHE suites) encrypts to the server key: keyEncipherment.
    const usages =
      role === 'server' && keyType === 'rsa'
        ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
        : x509.KeyUsageFlags.digitalSignature;
    const extensions: X509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension([
        role === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as PeculiarKey),
      new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
    ];
    if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames.map(generalName)));

    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: new x509.Name(subject),
      issuer: issuer.cert.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey as PeculiarKey,
      signingKey: issuer.keys.privateKey as PeculiarKey,
      signingAlgorithm: SIGNING_ALGORITHMS[issuer.keyType],
      extensions,
    });
    const parsed = new X509Certificate(Buffer.from(cert.rawData));
    const pem = parsed.toString();
    return {
      key: KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string,
      cert: pem,
      chain: pem + this.issuerChain,
      serial: parsed.serialNumber,
      notBefore,
      notAfter,
      fingerprint256: parsed.fingerprint256,
    };
  }
}

interface AuthorityParams {
  commonName: string;
  keyType: KeyType;
  notBefore: number;
  notAfter: number;
  pathLength: number | undefined;
  parent?: Authority;
}

async function createAuthority(p: AuthorityParams): Promise<Authority> {
  const x509 = loadX509();
  const keys = await generateKeys(p.keyType);
  const ski = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as PeculiarKey);
  // Encoded as the leaves' names are: a string value starting with '#' would be read as hex.
  const subject = new x509.Name(subjectName(p.commonName, undefined));
  const signer = p.parent;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: signer ? signer.cert.subjectName : subject,
    notBefore: new Date(p.notBefore),
    notAfter: new Date(p.notAfter),
    publicKey: keys.publicKey as PeculiarKey,
    signingKey: (signer ? signer.keys.privateKey : keys.privateKey) as PeculiarKey,
    signingAlgorithm: SIGNING_ALGORITHMS[signer ? signer.keyType : p.keyType],
    extensions: [
      new x509.BasicConstraintsExtension(true, p.pathLength, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ski,
      // A self-signed root points at its own key; OpenSSL accepts either, strict mode wants it on
      // every non-root certificate.
      new x509.AuthorityKeyIdentifierExtension(signer ? signer.keyId : ski.keyId),
    ],
  });
  return {
    cert,
    pem: new X509Certificate(Buffer.from(cert.rawData)).toString(),
    keys,
    keyType: p.keyType,
    keyId: ski.keyId,
    crlNumber: 0n,
  };
}

async function signCrl(
  authority: Authority,
  revoked: ReadonlyMap<string, Revocation>,
  options: CrlOptions,
): Promise<string> {
  const { nextUpdateMs: given, thisUpdate } = checkObject('options', options) ?? {};
  const nextUpdateMs = checkDuration('nextUpdateMs', given, HOUR_MS);
  if (thisUpdate !== undefined) checkDate('thisUpdate', thisUpdate);
  const now = Date.now();
  const start = thisUpdate ? thisUpdate.getTime() : now - CLOCK_SKEW_MS;
  const next = (thisUpdate ? thisUpdate.getTime() : now) + nextUpdateMs;
  // Taken before the await so that concurrent calls still get distinct, increasing numbers.
  authority.crlNumber += 1n;
  const x509 = loadX509();
  const crl = await x509.X509CrlGenerator.create({
    issuer: authority.cert.subjectName,
    thisUpdate: new Date(wholeSecond(start)),
    nextUpdate: new Date(wholeSecond(next)),
    signingKey: authority.keys.privateKey as PeculiarKey,
    signingAlgorithm: SIGNING_ALGORITHMS[authority.keyType],
    extensions: [
      new x509.AuthorityKeyIdentifierExtension(authority.keyId),
      new x509.Extension(OID_CRL_NUMBER, false, derInteger(authority.crlNumber)),
    ],
    // Every entry carries its reason code, 'unspecified' too, although RFC 5280 5.3.1 prefers it
    // absent: @peculiar/x509 encodes an entry without extensions as an empty SEQUENCE, which
    // Extensions (SIZE 1..MAX) forbids. OpenSSL tolerates it; stricter DER parsers need not.
    entries: [...revoked].map(([serial, r]) => ({
      serialNumber: serial,
      revocationDate: r.date,
      extensions: [new x509.Extension(OID_CRL_REASON, false, derEnumerated(x509.X509CrlReason[r.reason]))],
    })),
  });
  // @peculiar/x509 labels it 'CRL'; OpenSSL (and so node:tls) only reads 'X509 CRL'.
  return toPem('X509 CRL', crl.rawData);
}

async function generateKeys(keyType: KeyType): Promise<KeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHMS[keyType], true, ['sign', 'verify']) as Promise<KeyPair>;
}

function leafValidity(notBeforeOption: Date | undefined, validityMs: number): { notBefore: Date; notAfter: Date } {
  if (notBeforeOption !== undefined) checkDate('notBefore', notBeforeOption);
  const now = Date.now();
  const start = notBeforeOption ? notBeforeOption.getTime() : now - CLOCK_SKEW_MS;
  const end = (notBeforeOption ? notBeforeOption.getTime() : now) + validityMs;
  const notBefore = new Date(wholeSecond(start));
  const notAfter = new Date(wholeSecond(end));
  if (notAfter <= notBefore) {
    throw invalidOption('validityMs', 'long enough for notAfter to fall a whole second after notBefore', validityMs);
  }
  return { notBefore, notAfter };
}

/** 16 random bytes, positive and without a leading zero byte, so every serial prints 32 hex digits. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = 0x40 | (bytes[0]! & 0x3f);
  return bytes.toString('hex').toUpperCase();
}

/** Accepts 'ab:cd', lowercase and leading zero bytes; returns what X509Certificate#serialNumber prints. */
function normalizeSerial(serial: string): string {
  if (typeof serial !== 'string') throw invalidOption('serial', 'a hexadecimal string', serial);
  let hex = serial.replace(/:/g, '').toUpperCase();
  if (!/^[0-9A-F]+$/.test(hex)) throw invalidOption('serial', 'a hexadecimal string', serial);
  if (hex.length % 2 === 1) hex = '0' + hex;
  while (hex.length > 2 && hex.startsWith('00')) hex = hex.slice(2);
  return hex;
}

function generalName(name: string): X509.JsonGeneralName {
  if (isIP(name) !== 0) return { type: 'ip', value: name };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(name)) return { type: 'url', value: name };
  // An address (user@host) is an rfc822Name: what mail-identified peers and CAEP subjects match.
  if (/^[^@\s]+@[^@\s]+$/.test(name)) return { type: 'email', value: name };
  return { type: 'dns', value: name };
}

/** DER INTEGER for a non-negative bigint (the CRL number; small, so a one-byte length). */
function derInteger(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = '0' + hex;
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = '00' + hex;
  const body = Buffer.from(hex, 'hex');
  return Uint8Array.from([0x02, body.length, ...body]);
}

/** DER ENUMERATED for a CRLReason (0..10). */
function derEnumerated(value: number): Uint8Array {
  return Uint8Array.from([0x0a, 0x01, value]);
}

function toPem(label: string, der: ArrayBuffer): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function wholeSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

function checkDate(name: string, value: unknown): asserts value is Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalidOption(name, 'a valid Date', value);
}
