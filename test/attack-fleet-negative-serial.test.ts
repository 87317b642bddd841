/**
 * Attack: a certificate with a negative serial (node prints `-05`; RFC 5280 forbids them, but CAs
 * have issued them and OpenSSL accepts them). normalizeSerial() refuses the '-', so a shared CRL that
 * lists it (fleet.publishCrl) silently revokes nothing in the fleet guard, which is the only CRL check
 * of the request tier; and fleet.revokeCertificate() cannot name it at all.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';

const stamp = (ms: number): string => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';

function negativeSerialPki(dir: string): { leaf: string; crl: string } {
  const run = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=Negative CA', '-days', '2');
  run('req', '-new', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=neg');
  run('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '-5', '-out', 'leaf.pem');
  const index = `R\t${stamp(Date.now() + 86_400_000)}\t${stamp(Date.now() - 3_600_000)}\t-05\tunknown\t/CN=neg\n`;
  writeFileSync(join(dir, 'index.txt'), index);
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    `[ca]\ndefault_ca=d\n[d]\ndatabase=${join(dir, 'index.txt')}\ncrlnumber=${join(dir, 'crlnumber')}\n` +
      'default_md=sha256\ndefault_crl_days=1\n',
  );
  run('ca', '-config', 'ca.cnf', '-gencrl', '-keyfile', 'ca.key', '-cert', 'ca.pem', '-out', 'ca.crl');
  return { leaf: readFileSync(join(dir, 'leaf.pem'), 'latin1'), crl: readFileSync(join(dir, 'ca.crl'), 'latin1') };
}

t.test('a shared CRL revokes a certificate with a negative serial', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-negserial-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let pki;
  try {
    pki = negativeSerialPki(dir);
  } catch (error) {
    t.comment(`openssl could not build the PKI: ${(error as Error).message}`);
    return t.end();
  }
  const leaf = new X509Certificate(pki.leaf);
  t.equal(leaf.serialNumber, '-05');
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  for (const op of stateOps(checkEvent({ type: 'crl', pem: pki.crl }))) state.apply(op);
  const facts = { chain: [leaf], token: undefined, connectionSince: 0, tier: 'request' as const };
  t.same(guard.judge(facts, Date.now()), { deny: 'certificate-revoked' }, 'the CRL lists serial -05');
});
