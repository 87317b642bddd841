/**
 * Attack: a shared CRL is matched under its issuer as native crlInfo prints it (XN_FLAG_RFC2253,
 * which includes XN_FLAG_DUMP_UNKNOWN_FIELDS: an attribute whose OID OpenSSL does not know is
 * dumped as #hex DER), while a chain certificate's issuer is node's X509Certificate#issuer (the same
 * attribute printed as text). For a CA whose name holds such an attribute (a private OID, e.g. a
 * tenant id) the two canonical forms differ, so the CA's shared CRL denies nothing: a revoked
 * certificate is admitted on every tier the fleet guards (the request tier has no other CRL check).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';

const CONFIG = `oid_section = new_oids
[new_oids]
tenantId = 1.3.6.1.4.1.99999.1
[req]
distinguished_name = dn
prompt = no
[dn]
tenantId = tenant-7
CN = Odd CA
[v3ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ca]
default_ca = myca
[myca]
database = index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 7
`;

t.test('a shared CRL of a CA whose name holds a private-OID attribute denies the certificate it lists', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-attack2-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore', timeout: 10_000 });
  };
  writeFileSync(join(dir, 'ca.cnf'), CONFIG);
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=CA:false\nextendedKeyUsage=clientAuth\n');
  run(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '30',
    '-config',
    'ca.cnf',
    '-extensions',
    'v3ca',
  );
  run(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'leaf.key',
    '-out',
    'leaf.csr',
    '-subj',
    '/CN=mallory',
  );
  run(
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    '0x1234',
    '-days',
    '10',
    '-extfile',
    'leaf.ext',
    '-out',
    'leaf.pem',
  );
  run('ca', '-config', 'ca.cnf', '-revoke', 'leaf.pem', '-keyfile', 'ca.key', '-cert', 'ca.pem');
  run('ca', '-config', 'ca.cnf', '-gencrl', '-keyfile', 'ca.key', '-cert', 'ca.pem', '-out', 'crl.pem');

  const leaf = new X509Certificate(readFileSync(join(dir, 'leaf.pem')));
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  for (const op of stateOps(checkEvent({ type: 'crl', pem: readFileSync(join(dir, 'crl.pem'), 'latin1') })))
    state.apply(op);
  guard.bump();
  const facts = { chain: [leaf], token: undefined, connectionSince: 0, tier: 'request' as const };
  t.same(guard.judge(facts, Date.now()), { deny: 'certificate-revoked' }, `issuer ${JSON.stringify(leaf.issuer)}`);
});
