/**
 * The property tests' own PKI, independent of the library's DevelopmentCA: two tenant roots, each
 * with an intermediate, a root for the server's certificate, leaves issued on demand (by a root
 * or by an intermediate, long- or short-lived) and CRLs for every CA built from a set of revoked
 * certificates, intermediates included (RFC 5280 section 6.3.3 checks every certificate of the path).
 */
import type * as X509 from '@peculiar/x509';
import { KeyObject, X509Certificate, randomBytes, webcrypto } from 'node:crypto';

export type Tenant = 'A' | 'B';

/** A leaf the model knows everything about. */
export interface Leaf {
  /** The model's name for it: 'alice@A/int', 'bob@B/root~' (~ = short-lived). */
  readonly id: string;
  readonly cn: string;
  readonly tenant: Tenant;
  /** Issued by an intermediate (presented as leaf + intermediate) or by the tenant's root. */
  readonly viaIntermediate: boolean;
  /** The intermediate is the leaf's own, short-lived one, not the tenant's (never revoked). */
  readonly ownIntermediate: boolean;
  /** The own intermediate's notAfter, when there is one. */
  readonly intermediateNotAfter?: number;
  readonly key: string;
  readonly cert: string;
  /** What the client presents: the leaf, then the intermediate when there is one. */
  readonly chain: string;
  readonly serial: string;
  /** The earliest notAfter on the presented path (leaf, own intermediate). */
  readonly notAfter: number;
}

interface Authority {
  readonly name: string;
  readonly cert: X509.X509Certificate;
  readonly pem: string;
  readonly keys: webcrypto.CryptoKeyPair;
  readonly keyId: string;
  readonly serial: string;
  crlNumber: number;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
const OID_CRL_NUMBER = '2.5.29.20';

type Key = X509.X509CertificateCreateWithKeyParams['signingKey'];

let loaded: typeof X509 | undefined;

/**
 * @peculiar/x509 resolves its parts through tsyringe, which wants a Reflect metadata API at load
 * time. Nothing here carries decorator metadata, so a small store is enough; a real polyfill
 * installed earlier (or the library's own) is left in place.
 */
function x509(): typeof X509 {
  if (loaded !== undefined) return loaded;
  const reflect = Reflect as unknown as Record<string, unknown>;
  if (typeof reflect['getMetadata'] !== 'function') {
    const store = new WeakMap<object, Map<unknown, unknown>>();
    const slot = (target: object, prop: unknown): string => `${String(prop)}`;
    const api: Record<string, unknown> = {
      defineMetadata: (key: unknown, value: unknown, target: object, prop?: unknown) => {
        let map = store.get(target);
        if (!map) store.set(target, (map = new Map()));
        map.set(`${String(key)}|${slot(target, prop)}`, value);
      },
      getOwnMetadata: (key: unknown, target: object, prop?: unknown) =>
        store.get(target)?.get(`${String(key)}|${slot(target, prop)}`),
      hasOwnMetadata: (key: unknown, target: object, prop?: unknown) =>
        store.get(target)?.has(`${String(key)}|${slot(target, prop)}`) ?? false,
    };
    api['getMetadata'] = (key: unknown, target: object, prop?: unknown): unknown => {
      for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
        const map = store.get(t);
        const k = `${String(key)}|${slot(t, prop)}`;
        if (map?.has(k)) return map.get(k);
      }
      return undefined;
    };
    api['hasMetadata'] = (key: unknown, target: object, prop?: unknown): boolean =>
      (api['getMetadata'] as (...a: unknown[]) => unknown)(key, target, prop) !== undefined;
    api['metadata'] = (key: unknown, value: unknown) => (target: object, prop?: unknown) =>
      (api['defineMetadata'] as (...a: unknown[]) => void)(key, value, target, prop);
    for (const [name, fn] of Object.entries(api))
      Object.defineProperty(Reflect, name, { value: fn, configurable: true, writable: true });
  }
  const module = require('@peculiar/x509') as typeof X509;
  module.cryptoProvider.set(webcrypto as unknown as Parameters<typeof module.cryptoProvider.set>[0]);
  loaded = module;
  return module;
}

function serialHex(): string {
  const bytes = randomBytes(12);
  bytes[0] = 0x10 | (bytes[0]! & 0x3f);
  return bytes.toString('hex').toUpperCase();
}

async function authority(
  name: string,
  parent?: Authority,
  lifetimeMs = 30 * DAY,
  existingKeys?: webcrypto.CryptoKeyPair,
): Promise<Authority> {
  const lib = x509();
  const keys =
    existingKeys ??
    ((await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair);
  const ski = await lib.SubjectKeyIdentifierExtension.create(keys.publicKey as Key);
  const subject = new lib.Name([{ CN: [name] }]);
  const serial = serialHex();
  const now = Date.now();
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: serial,
    subject,
    issuer: parent ? parent.cert.subjectName : subject,
    notBefore: new Date(Math.floor((now - DAY) / 1000) * 1000),
    notAfter: new Date(Math.floor((now + lifetimeMs) / 1000) * 1000),
    publicKey: keys.publicKey as Key,
    signingKey: (parent ? parent.keys.privateKey : keys.privateKey) as Key,
    signingAlgorithm: SIGNING,
    extensions: [
      new lib.BasicConstraintsExtension(true, parent ? 0 : undefined, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
      ski,
      new lib.AuthorityKeyIdentifierExtension(parent ? parent.keyId : ski.keyId),
    ],
  });
  const pem = new X509Certificate(Buffer.from(cert.rawData)).toString();
  return { name, cert, pem, keys, keyId: ski.keyId, serial: new X509Certificate(pem).serialNumber, crlNumber: 0 };
}

async function leaf(
  issuer: Authority,
  cn: string,
  role: 'client' | 'server',
  lifetimeMs: number,
  altNames: string[] = [],
): Promise<{ key: string; cert: string; serial: string; notAfter: number }> {
  const lib = x509();
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  // X.509 times are whole seconds.
  const notAfter = Math.floor((now + lifetimeMs) / 1000) * 1000;
  const extensions: X509.Extension[] = [
    new lib.BasicConstraintsExtension(false, undefined, true),
    new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature, true),
    new lib.ExtendedKeyUsageExtension([
      role === 'server' ? lib.ExtendedKeyUsage.serverAuth : lib.ExtendedKeyUsage.clientAuth,
    ]),
    await lib.SubjectKeyIdentifierExtension.create(keys.publicKey as Key),
    new lib.AuthorityKeyIdentifierExtension(issuer.keyId),
  ];
  if (altNames.length > 0) {
    extensions.push(
      new lib.SubjectAlternativeNameExtension(
        altNames.map((n) =>
          /^[\d.]+$/.test(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n },
        ),
      ),
    );
  }
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: serialHex(),
    subject: new lib.Name([{ CN: [cn] }]),
    issuer: issuer.cert.subjectName,
    notBefore: new Date(Math.floor((now - 60_000) / 1000) * 1000),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey as Key,
    signingKey: issuer.keys.privateKey as Key,
    signingAlgorithm: SIGNING,
    extensions,
  });
  const parsed = new X509Certificate(Buffer.from(cert.rawData));
  return {
    key: KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string,
    cert: parsed.toString(),
    serial: parsed.serialNumber,
    notAfter: Date.parse(parsed.validTo),
  };
}

function derInteger(value: number): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = '0' + hex;
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = '00' + hex;
  const body = Buffer.from(hex, 'hex');
  return Uint8Array.from([0x02, body.length, ...body]);
}

export interface ServerIdentity {
  key: string;
  /** Leaf + nothing: the server root signs it directly. */
  cert: string;
}

export class ModelPki {
  /** Names every host the tests use: the default context and the tenants' SNI names. */
  static readonly serverNames = ['localhost', 'a.test', 'b.test', '127.0.0.1'];

  readonly roots: Record<Tenant, Authority>;
  readonly intermediates: Record<Tenant, Authority>;
  readonly serverRoot: Authority;
  readonly server: ServerIdentity;
  /** Short-lived intermediates made for single leaves: each needs its own CRL in every set. */
  readonly #extra: Authority[] = [];
  readonly #issuerOf = new Map<string, Authority>();

  private constructor(
    roots: Record<Tenant, Authority>,
    intermediates: Record<Tenant, Authority>,
    serverRoot: Authority,
    server: ServerIdentity,
  ) {
    this.roots = roots;
    this.intermediates = intermediates;
    this.serverRoot = serverRoot;
    this.server = server;
  }

  static async create(): Promise<ModelPki> {
    const tag = randomBytes(3).toString('hex');
    const [rootA, rootB, serverRoot] = await Promise.all([
      authority(`model root A ${tag}`),
      authority(`model root B ${tag}`),
      authority(`model server root ${tag}`),
    ]);
    const [intA, intB] = await Promise.all([
      authority(`model intermediate A ${tag}`, rootA),
      authority(`model intermediate B ${tag}`, rootB),
    ]);
    const server = await leaf(serverRoot, 'localhost', 'server', 30 * DAY, ModelPki.serverNames);
    return new ModelPki({ A: rootA, B: rootB }, { A: intA, B: intB }, serverRoot, {
      key: server.key,
      cert: server.cert,
    });
  }

  /** PEM of the roots of `tenants`, for a `ca` option. */
  caPem(tenants: Iterable<Tenant>): string {
    return [...tenants]
      .sort()
      .map((t) => this.roots[t].pem)
      .join('');
  }

  /** The intermediates of both tenants (untrusted issuers for attach()'s `intermediates`). */
  intermediatesPem(): string {
    return this.intermediates.A.pem + this.intermediates.B.pem;
  }

  async issue(spec: {
    cn: string;
    tenant: Tenant;
    viaIntermediate: boolean;
    lifetimeMs: number;
    intermediateLifetimeMs?: number;
  }): Promise<Leaf> {
    let issuer = spec.viaIntermediate ? this.intermediates[spec.tenant] : this.roots[spec.tenant];
    let own: Authority | null = null;
    if (spec.intermediateLifetimeMs !== undefined) {
      own = await authority(
        `model own intermediate ${spec.cn} ${randomBytes(3).toString('hex')}`,
        this.roots[spec.tenant],
        spec.intermediateLifetimeMs,
      );
      this.#extra.push(own);
      issuer = own;
    }
    const made = await leaf(issuer, spec.cn, 'client', spec.lifetimeMs);
    this.#issuerOf.set(made.serial, issuer);
    const short = spec.lifetimeMs < 60_000 ? '~' : '';
    const intermediateNotAfter = own === null ? undefined : Date.parse(new X509Certificate(own.pem).validTo);
    return {
      id: `${spec.cn}@${spec.tenant}/${own !== null ? 'own-int~' : spec.viaIntermediate ? 'int' : 'root'}${short}`,
      cn: spec.cn,
      tenant: spec.tenant,
      viaIntermediate: spec.viaIntermediate || own !== null,
      ownIntermediate: own !== null,
      ...(intermediateNotAfter === undefined ? {} : { intermediateNotAfter }),
      key: made.key,
      cert: made.cert,
      chain: made.cert + (issuer === this.roots[spec.tenant] ? '' : issuer.pem),
      serial: made.serial,
      notAfter: Math.min(made.notAfter, intermediateNotAfter ?? Infinity),
    };
  }

  /**
   * The PEM of another certificate for `leaf`'s own intermediate: the same subject and key, issued
   * by the same root, valid until `lifetimeMs` from now (negative: already expired). It issues the
   * leaf as well as the original does, so a chain can carry both.
   */
  async reissueIntermediate(leaf: Leaf, lifetimeMs: number): Promise<string> {
    const own = this.#issuerOf.get(leaf.serial);
    if (!leaf.ownIntermediate || own === undefined) throw new Error(`${leaf.id} has no intermediate of its own`);
    return (await authority(own.name, this.roots[leaf.tenant], lifetimeMs, own.keys)).pem;
  }

  /**
   * One CRL per CA (the four shared ones and every own intermediate), listing the revoked leaves
   * each issued and, on the roots', the revoked intermediates. `revokedIntermediates` names tenants
   * whose intermediate is revoked.
   */
  async crls(revokedLeaves: Iterable<Leaf>, revokedIntermediates: Iterable<Tenant>): Promise<string> {
    const lib = x509();
    const entries = new Map<Authority, string[]>();
    const add = (ca: Authority, serial: string): void => {
      entries.set(ca, [...(entries.get(ca) ?? []), serial]);
    };
    for (const l of revokedLeaves) add(this.#issuerOf.get(l.serial)!, l.serial);
    for (const t of revokedIntermediates) add(this.roots[t], this.intermediates[t].serial);
    const now = Date.now();
    const pems = await Promise.all(
      [this.roots.A, this.intermediates.A, this.roots.B, this.intermediates.B, ...this.#extra].map(async (ca) => {
        ca.crlNumber += 1;
        const crl = await lib.X509CrlGenerator.create({
          issuer: ca.cert.subjectName,
          thisUpdate: new Date(Math.floor((now - 60_000) / 1000) * 1000),
          nextUpdate: new Date(Math.floor((now + 3_600_000) / 1000) * 1000),
          signingKey: ca.keys.privateKey as Key,
          signingAlgorithm: SIGNING,
          extensions: [
            new lib.AuthorityKeyIdentifierExtension(ca.keyId),
            new lib.Extension(OID_CRL_NUMBER, false, derInteger(ca.crlNumber)),
          ],
          entries: (entries.get(ca) ?? []).map((serial) => ({
            serialNumber: serial,
            revocationDate: new Date(Math.floor((now - 30_000) / 1000) * 1000),
            // keyCompromise: an empty entry-extensions SEQUENCE would be invalid DER.
            extensions: [new lib.Extension('2.5.29.21', false, Uint8Array.from([0x0a, 0x01, 0x01]))],
          })),
        });
        const b64 = Buffer.from(crl.rawData)
          .toString('base64')
          .match(/.{1,64}/g)!
          .join('\n');
        return `-----BEGIN X509 CRL-----\n${b64}\n-----END X509 CRL-----\n`;
      }),
    );
    return pems.join('');
  }
}
