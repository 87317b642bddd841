/**
 * Attack: a shared CRL is matched under its issuer as native crlInfo prints it (XN_FLAG_RFC2253,
 * which includes XN_FLAG_DUMP_UNKNOWN_FIELDS: an attribute whose OID OpenSSL does not know is
 * dumped as #hex DER), while a chain certificate's issuer is node's X509Certificate#issuer (the same
 * attribute printed as text). For a CA whose name holds such an attribute (a private OID, e.g. a
 * tenant id) the two canonical forms differ, so the CA's shared CRL denies nothing: a revoked
 * certificate is admitted on every tier the fleet guards (the request tier has no other CRL check).
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { OpensslWorkspace } from './helpers/openssl-ca';

/** The CA's name and extensions (`openssl req -config`): a tenant id under a private OID, then its CN. */
const CA_CONFIG = `oid_section = new_oids
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
`;

t.test('a shared CRL of a CA whose name holds a private-OID attribute denies the certificate it lists', async (t) => {
  const openssl = new OpensslWorkspace(t, 'ctls-attack2-');
  openssl.write('req.cnf', CA_CONFIG);
  openssl.ca('ca', '-days', '30', '-config', 'req.cnf', '-extensions', 'v3ca');
  const pem = openssl.leaf('leaf', 'ca', {
    subject: '/CN=mallory',
    serial: '0x1234',
    days: 10,
    extensions: 'basicConstraints=CA:false\nextendedKeyUsage=clientAuth',
  });
  const crl = openssl.crl('ca', [pem]);

  const leaf = new X509Certificate(pem);
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  for (const op of stateOps(checkEvent({ type: 'crl', pem: crl }))) state.apply(op);
  guard.bump();
  const facts = { chain: [leaf], token: undefined, connectionSince: 0, tier: 'request' as const };
  t.same(guard.judge(facts, Date.now()), { deny: 'certificate-revoked' }, `issuer ${JSON.stringify(leaf.issuer)}`);
});
