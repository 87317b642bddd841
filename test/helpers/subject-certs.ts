/**
 * Client certificates with email and URI SANs (the fleet's default subject identifiers), issued by
 * the fixture intermediate CA with the openssl CLI into a temp directory removed on exit.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certs, keyPath } from './certs';

export interface SubjectCert {
  key: string;
  cert: string;
  /** Leaf then intermediate: what the client presents. */
  chain: string;
}

/** Issues one client certificate per entry; `san` is an OpenSSL subjectAltName value. */
export function issueSubjectCerts(specs: Array<{ cn: string; san: string }>): SubjectCert[] {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-subjects-'));
  try {
    return specs.map(({ cn, san }, i) => {
      const key = join(dir, `${i}-key.pem`);
      const csr = join(dir, `${i}.csr`);
      const cert = join(dir, `${i}.pem`);
      const run = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe', timeout: 30_000 });
      run(
        ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key]
          .concat(['-out', csr, '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`])
          .concat(['-addext', 'extendedKeyUsage=clientAuth']),
      );
      run(
        ['x509', '-req', '-in', csr, '-CA', keyPath('intermediate'), '-CAkey', keyPath('intermediateKey')].concat([
          '-set_serial',
          `0x${randomBytes(16).toString('hex')}`,
          '-days',
          '2',
          '-copy_extensions',
          'copy',
          '-out',
          cert,
        ]),
      );
      const pem = readFileSync(cert, 'latin1');
      return { key: readFileSync(key, 'latin1'), cert: pem, chain: pem + certs.intermediate };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
