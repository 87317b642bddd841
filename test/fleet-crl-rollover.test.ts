/**
 * Across a CA key rollover under one name, the CRL of the old key and the CRL of the new key are both
 * current: the fleet keys shared CRLs by issuer and authorityKeyIdentifier, so neither replaces the
 * other and each denies what it lists.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, splitCrls, stateOps } from '../dist/fleet/events.js';

const CONFIG = `[ca]
default_ca = myca
[myca]
database = index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 7
[crlexts]
authorityKeyIdentifier = keyid:always
`;

t.test("the CRLs of an issuer's old and new key both deny what they list", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-rollover-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore', timeout: 10_000 });
  };
  writeFileSync(join(dir, 'ca.cnf'), CONFIG);
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=CA:false\nauthorityKeyIdentifier=keyid\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const leaves: X509Certificate[] = [];
  const crls: string[] = [];
  for (const [i, serial] of ['0xC1', '0xD2'].entries()) {
    openssl('req', '-x509', ...ec, '-keyout', `ca${i}.key`, '-out', `ca${i}.pem`, '-days', '30',
      '-subj', '/O=Example/CN=Rollover CA'); // prettier-ignore
    openssl('req', ...ec, '-keyout', `leaf${i}.key`, '-out', `leaf${i}.csr`, '-subj', `/CN=peer${i}`);
    openssl('x509', '-req', '-in', `leaf${i}.csr`, '-CA', `ca${i}.pem`, '-CAkey', `ca${i}.key`, '-set_serial',
      serial, '-days', '10', '-extfile', 'leaf.ext', '-out', `leaf${i}.pem`); // prettier-ignore
    leaves.push(new X509Certificate(readFileSync(join(dir, `leaf${i}.pem`))));
    writeFileSync(join(dir, 'index.txt'), '');
    openssl('ca', '-config', 'ca.cnf', '-revoke', `leaf${i}.pem`, '-keyfile', `ca${i}.key`, '-cert', `ca${i}.pem`);
    openssl('ca', '-config', 'ca.cnf', '-gencrl', '-keyfile', `ca${i}.key`, '-cert', `ca${i}.pem`,
      '-crlexts', 'crlexts', '-out', `crl${i}.pem`); // prettier-ignore
    crls.push(readFileSync(join(dir, `crl${i}.pem`), 'latin1'));
  }
  const [first, second] = crls.map((pem) => splitCrls(pem)[0]!);
  t.equal(first!.issuer, second!.issuer, 'one issuer name');
  t.not(first!.identity, second!.identity, 'two CRL identities');
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  for (const pem of crls) for (const op of stateOps(checkEvent({ type: 'crl', pem }))) state.apply(op);
  guard.bump();
  t.equal(state.crlPems().length, 2);
  for (const [i, leaf] of leaves.entries()) {
    const facts = { chain: [leaf], token: undefined, connectionSince: 0, tier: 'request' as const };
    t.same(guard.judge(facts, Date.now()), { deny: 'certificate-revoked' }, `key ${i}'s certificate is denied`);
  }
});
