/**
 * Attack: a URI subject spelled with its scheme's default port. The certificate's URI SAN says
 * `https://workloads.example.com/billing`; the identity provider's revocation names
 * `https://workloads.example.com:443/billing` (or the SAN has the port and the revocation not).
 * RFC 3986 §6.2.3 makes them one URI (a scheme's default port, like its case, is normalised away),
 * but uriKey() keeps the port text, so the two spellings get two index keys and the revocation
 * cuts nothing.
 *
 * A correct library keys a URI with its scheme's default port (http 80, https 443, wss 443 …)
 * dropped, so both spellings match the SAN.
 *
 * Attack class: canonical names (an equivalent spelling of the subject), fail-open revocation.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { DevelopmentCA } from '../dist/dev/pki.js';

t.test('a URI subject with the default port matches the SAN without it', async (t) => {
  const ca = await DevelopmentCA.create({ intermediate: false });
  const cert = await ca.issueClient({ commonName: 'billing', altNames: ['https://workloads.example.com/billing'] });
  const leaf = new X509Certificate(cert.cert);
  t.match(leaf.subjectAltName, /URI:https:\/\/workloads\.example\.com\/billing/);
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  const event = {
    type: 'subject-revoked',
    subject: { format: 'uri', uri: 'https://workloads.example.com:443/billing' },
    before: Date.now() + 1_000,
  };
  for (const op of stateOps(checkEvent(event))) state.apply(op);
  const facts = { chain: [leaf], token: undefined, connectionSince: Date.now() - 1_000, tier: 'owned' as const };
  t.same(guard.judge(facts, Date.now()), { deny: 'subject-revoked' }, 'revoked');
});
