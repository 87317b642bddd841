/**
 * Attack: the fleet keeps one CRL per issuer name, the latest by lastUpdate (the `max` rule of the
 * crls hash). An issuer may have several current CRLs at once: sharded/partitioned CRLs (each
 * listing part of the revocations, told apart by their issuingDistributionPoint, as large public
 * CAs publish them), or one CRL per key across a CA key rollover under the same name. Sharing the
 * second shard (publishCrl) silently replaces the first: the serials only the first lists are no
 * longer denied, and on the request tier nothing else checks them: a revoked certificate is admitted.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';

const CONFIG = `[ca]
default_ca = myca
[myca]
database = index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 7
[shard0]
issuingDistributionPoint = critical, @idp0
[idp0]
fullname = URI:http://crl.example/shard0.crl
[shard1]
issuingDistributionPoint = critical, @idp1
[idp1]
fullname = URI:http://crl.example/shard1.crl
`;

t.test('two shards of one issuer both deny what they list', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-attack2-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore', timeout: 10_000 });
  };
  writeFileSync(join(dir, 'ca.cnf'), CONFIG);
  writeFileSync(join(dir, 'crlnumber'), '01\n');
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
    '/O=Example/CN=Shard CA',
  );
  const leaves: X509Certificate[] = [];
  const crls: string[] = [];
  for (const [i, serial] of ['0xA1', '0xB2'].entries()) {
    openssl('req', ...ec, '-keyout', `leaf${i}.key`, '-out', `leaf${i}.csr`, '-subj', `/CN=peer${i}`);
    openssl('x509', '-req', '-in', `leaf${i}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial,
      '-days', '10', '-extfile', 'leaf.ext', '-out', `leaf${i}.pem`); // prettier-ignore
    leaves.push(new X509Certificate(readFileSync(join(dir, `leaf${i}.pem`))));
    // Shard i (its own issuingDistributionPoint) lists only leaf i.
    writeFileSync(join(dir, 'index.txt'), '');
    openssl('ca', '-config', 'ca.cnf', '-revoke', `leaf${i}.pem`, '-keyfile', 'ca.key', '-cert', 'ca.pem');
    openssl('ca', '-config', 'ca.cnf', '-gencrl', '-keyfile', 'ca.key', '-cert', 'ca.pem', '-crlexts', `shard${i}`,
      '-out', `crl${i}.pem`); // prettier-ignore
    crls.push(readFileSync(join(dir, `crl${i}.pem`), 'latin1'));
  }
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  for (const pem of crls) for (const op of stateOps(checkEvent({ type: 'crl', pem }))) state.apply(op);
  guard.bump();
  for (const [i, leaf] of leaves.entries()) {
    const facts = { chain: [leaf], token: undefined, connectionSince: 0, tier: 'request' as const };
    t.same(guard.judge(facts, Date.now()), { deny: 'certificate-revoked' }, `shard ${i}'s certificate is denied`);
  }
});
