/**
 * Attack (operator's spelling): `openssl x509 -noout -issuer` prints OpenSSL's default one-line form,
 * `C = US, O = Example, CN = Example CA`: most general first, like node's, but comma-separated.
 * normalizeIssuer() reads every comma-separated name as RFC 2253 (most specific first) and reverses
 * it, so a revocation scoped to an issuer pasted from openssl is accepted and published, and denies
 * nothing: the certificate stays admitted on every member, while the docs promise that "a revocation
 * never misses for a spelling". Either read this form or refuse it (ERR_CTLS_FLEET_BAD_EVENT).
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { OpensslWorkspace } from './helpers/openssl-ca';

t.test('a revocation scoped to the issuer as openssl prints it denies the certificate', async (t) => {
  const openssl = new OpensslWorkspace(t, 'ctls-attack2-');
  openssl.ca('ca', '-days', '30', '-subj', '/C=US/O=Example/CN=Example CA');
  const pem = openssl.leaf('leaf', 'ca', {
    subject: '/CN=mallory',
    serial: '0x77',
    days: 10,
    extensions: 'basicConstraints=CA:false\nextendedKeyUsage=clientAuth',
  });
  const printed = openssl
    .run('x509', '-in', 'leaf.pem', '-noout', '-issuer')
    .trim()
    .replace(/^issuer=\s*/, '');
  const leaf = new X509Certificate(pem);

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
