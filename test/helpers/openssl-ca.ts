/**
 * Small CAs made with the openssl CLI, for the tests that need what only it spells out: odd serials
 * (negative, 160-bit), odd names (multi-valued RDNs, private OIDs), CRL extensions (shards, an
 * authorityKeyIdentifier) and the issuer as `openssl x509 -issuer` prints it. Every file lives in
 * a scratch directory removed when the test ends.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

/** `openssl req` arguments for a new unencrypted EC P-256 key. */
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** An index.txt time (UTCTime, YYMMDDHHMMSSZ). */
const stamp = (ms: number): string => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';

export interface LeafSpec {
  /** OpenSSL's -subj spelling, e.g. '/CN=mallory'. */
  subject: string;
  /** OpenSSL's -set_serial spelling: decimal, or hex after '0x'; negative ones too. */
  serial: string;
  days?: number;
  /** An extension file's lines (`openssl x509 -extfile`), e.g. 'basicConstraints=CA:false'. */
  extensions?: string;
}

export interface CrlSpec {
  /** Lines added to the CA section of the `openssl ca` configuration (e.g. 'utf8 = yes'). */
  settings?: string;
  /** Further configuration sections, for `crlexts`. */
  sections?: string;
  /** The section of `sections` holding the CRL's extensions. */
  crlexts?: string;
}

export class OpensslWorkspace {
  readonly dir: string;

  /** A scratch directory under the OS's temp directory, removed at `t`'s teardown. */
  constructor(t: Test, prefix = 'ctls-openssl-') {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dir = dir;
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  }

  /** Runs the openssl CLI in the directory and returns what it printed; throws with its stderr. */
  run(...args: string[]): string {
    return execFileSync('openssl', args, {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 10_000,
    }).toString();
  }

  write(file: string, text: string): void {
    writeFileSync(join(this.dir, file), text);
  }

  read(file: string): string {
    return readFileSync(join(this.dir, file), 'latin1');
  }

  /** A self-signed CA in `<name>.key` and `<name>.pem` (PEM returned); `args` go to `openssl req -x509`. */
  ca(name: string, ...args: string[]): string {
    this.run('req', '-x509', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.pem`, ...args);
    return this.read(`${name}.pem`);
  }

  /** A leaf in `<name>.key` and `<name>.pem` (PEM returned), issued by the CA `ca` (see ca()). */
  leaf(name: string, ca: string, spec: LeafSpec): string {
    this.run('req', '-new', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', spec.subject);
    const args = ['-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-set_serial', spec.serial];
    if (spec.days !== undefined) args.push('-days', String(spec.days));
    if (spec.extensions !== undefined) {
      this.write(`${name}.ext`, `${spec.extensions}\n`);
      args.push('-extfile', `${name}.ext`);
    }
    this.run('x509', '-req', ...args, '-out', `${name}.pem`);
    return this.read(`${name}.pem`);
  }

  /**
   * A CRL of the CA `ca` listing `revoked` (PEMs), by `openssl ca -gencrl`. The CA database is
   * written directly, which takes serials `openssl ca -revoke` refuses (a negative one). The CRL
   * number goes up with every CRL made in this workspace.
   */
  crl(ca: string, revoked: readonly string[], spec: CrlSpec = {}): string {
    const now = Date.now();
    const index = revoked.map((pem) => {
      const leaf = new X509Certificate(pem);
      const subject = `/${leaf.subject.split('\n').join('/')}`;
      return `R\t${stamp(now + 86_400_000)}\t${stamp(now - 3_600_000)}\t${leaf.serialNumber}\tunknown\t${subject}\n`;
    });
    this.write('index.txt', index.join(''));
    if (!existsSync(join(this.dir, 'crlnumber'))) this.write('crlnumber', '01\n');
    const config = [
      '[ca]',
      'default_ca = workspace_ca',
      '[workspace_ca]',
      'database = index.txt',
      'crlnumber = crlnumber',
      'default_md = sha256',
      'default_crl_days = 7',
      spec.settings ?? '',
      spec.sections ?? '',
    ];
    this.write('ca.cnf', config.join('\n'));
    const extensions = spec.crlexts === undefined ? [] : ['-crlexts', spec.crlexts];
    this.run('ca', '-config', 'ca.cnf', '-gencrl', '-keyfile', `${ca}.key`, '-cert', `${ca}.pem`, ...extensions,
      '-out', `${ca}.crl`); // prettier-ignore
    return this.read(`${ca}.crl`);
  }
}
