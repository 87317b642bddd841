/**
 * Attack: a certificate with a negative serial (node prints `-05`; RFC 5280 forbids them, but CAs
 * have issued them and OpenSSL accepts them). normalizeSerial() refuses the '-', so a shared CRL that
 * lists it (fleet.publishCrl) silently revokes nothing in the fleet guard, which is the only CRL check
 * of the request tier; and fleet.revokeCertificate() cannot name it at all.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { OpensslWorkspace } from './helpers/openssl-ca';

function negativeSerialPki(openssl: OpensslWorkspace): { leaf: string; crl: string } {
  openssl.ca('ca', '-subj', '/CN=Negative CA', '-days', '2');
  const leaf = openssl.leaf('leaf', 'ca', { subject: '/CN=neg', serial: '-5' });
  return { leaf, crl: openssl.crl('ca', [leaf]) };
}

t.test('a shared CRL revokes a certificate with a negative serial', async (t) => {
  let pki;
  try {
    pki = negativeSerialPki(new OpensslWorkspace(t, 'ctls-negserial-'));
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
