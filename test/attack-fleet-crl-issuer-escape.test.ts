/**
 * Attack: a shared CRL (fleet.publishCrl) is matched by the fleet guard under the CRL's issuer as
 * read from RFC 2253 (escapes removed), while a certificate's issuer is node's X509Certificate#issuer
 * (escapes kept: `CN=Example\, Inc. CA`). For an issuer name holding , + " ; the two never match,
 * so the CRL's serials deny nothing. The request tier (authorizeRequest over node:https) has no other
 * CRL check: a certificate revoked by the shared CRL is admitted.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { DevelopmentCA } from '../dist/dev/pki.js';

for (const commonName of ['Example, Inc. CA', 'Ops+Sec CA', 'Semi;colon CA', 'Quote"d CA']) {
  t.test(`a shared CRL of the CA ${JSON.stringify(commonName)} denies the certificates it lists`, async (t) => {
    const ca = await DevelopmentCA.create({ commonName, intermediate: false });
    const client = await ca.issueClient({ commonName: 'mallory' });
    const leaf = new X509Certificate(client.cert);
    ca.revoke(leaf.serialNumber);
    const state = new FleetState();
    const guard = new FleetGuard(state, { stale: false, strict: true });
    for (const op of stateOps(checkEvent({ type: 'crl', pem: await ca.crl() }))) state.apply(op);
    guard.bump();
    const facts = { chain: [leaf], token: undefined, connectionSince: 0, tier: 'request' as const };
    t.same(guard.judge(facts, Date.now()), { deny: 'certificate-revoked' }, `issuer ${JSON.stringify(leaf.issuer)}`);
  });
}
