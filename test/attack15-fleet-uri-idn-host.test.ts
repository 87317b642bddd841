/**
 * Attack: a URI subject names its host in Unicode. An identity provider (or an operator calling
 * revokeSubject) names a workload `spiffe://bücher.example/ns/prod/sa/api` (an IRI, or in another
 * Unicode normalisation form / case), while the certificate's URI SAN, an IA5String, can only hold
 * the A-label spelling `spiffe://xn--bcher-kva.example/ns/prod/sa/api`. uriKey() folds only the ASCII
 * case of the host, so the same host gives two index keys and the revocation cuts nothing.
 *
 * A correct library keys a URI's host as it keys an email's domain (url.domainToASCII of its NFC
 * form, then ASCII lower case), so every spelling of one host matches the SAN; or refuses a
 * non-ASCII host outright so the transmitter learns the revocation was not applied.
 *
 * Attack class: canonical names (an equivalent spelling of the subject), fail-open revocation.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { DevelopmentCA } from '../dist/dev/pki.js';

t.test('a URI subject revocation matches the SAN whatever the spelling of its host', async (t) => {
  const ca = await DevelopmentCA.create({ intermediate: false });
  const api = await ca.issueClient({ commonName: 'api', altNames: ['spiffe://xn--bcher-kva.example/ns/prod/sa/api'] });
  const leaf = new X509Certificate(api.cert);
  t.match(leaf.subjectAltName, /URI:spiffe:\/\/xn--bcher-kva\.example\/ns\/prod\/sa\/api/);
  for (const uri of [
    'spiffe://bücher.example/ns/prod/sa/api',
    'spiffe://bu\u0308cher.example/ns/prod/sa/api',
    'spiffe://BÜCHER.example/ns/prod/sa/api',
  ]) {
    const state = new FleetState();
    const guard = new FleetGuard(state, { stale: false, strict: true });
    const event = { type: 'subject-revoked', subject: { format: 'uri', uri }, before: Date.now() + 1_000 };
    for (const op of stateOps(checkEvent(event))) state.apply(op);
    const facts = { chain: [leaf], token: undefined, connectionSince: Date.now() - 1_000, tier: 'owned' as const };
    t.same(guard.judge(facts, Date.now()), { deny: 'subject-revoked' }, `revoked as ${JSON.stringify(uri)}`);
  }
});
