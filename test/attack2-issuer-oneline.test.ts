/**
 * Attack (operator's spelling): `openssl x509 -noout -issuer` prints OpenSSL's default one-line form,
 * `C = US, O = Example, CN = Example CA`: most general first, like node's, but comma-separated.
 * normalizeIssuer() reads every comma-separated name as RFC 2253 (most specific first) and reverses
 * it, so a revocation scoped to an issuer pasted from openssl is accepted and published, and denies
 * nothing: the certificate stays admitted on every member, while the docs promise that "a revocation
 * never misses for a spelling". Either read this form or refuse it (ERR_CTLS_FLEET_BAD_EVENT).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';

t.test('a revocation scoped to the issuer as openssl prints it denies the certificate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-attack2-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]): string =>
    execFileSync('openssl', args, { cwd: dir, timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=CA:false\nextendedKeyUsage=clientAuth\n');
  writeFileSync(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '30',
    '-subj',
    '/C=US/O=Example/CN=Example CA',
  );
  openssl('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=mallory');
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '0x77', '-days', '10',
    '-extfile', 'leaf.ext', '-out', 'leaf.pem'); // prettier-ignore
  const printed = openssl('x509', '-in', 'leaf.pem', '-noout', '-issuer')
    .trim()
    .replace(/^issuer=\s*/, '');
  const leaf = new X509Certificate(readFileSync(join(dir, 'leaf.pem')));

  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  const event = checkEvent({ type: 'certificate-revoked', serial: leaf.serialNumber, issuer: printed });
  for (const op of stateOps(event)) state.apply(op);
  guard.bump();
  const facts = { chain: [leaf], token: undefined, connectionSince: 0, tier: 'request' as const };
  t.same(
    guard.judge(facts, Date.now()),
    { deny: 'certificate-revoked' },
    `issuer ${JSON.stringify(printed)} read as ${JSON.stringify((event as { issuer?: string }).issuer)}`,
  );
});
