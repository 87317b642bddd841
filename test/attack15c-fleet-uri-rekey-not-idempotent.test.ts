/**
 * Attack: a URI subject whose escapes, once the unreserved ones are decoded, spell a new escape.
 * `https://home.example.com/%%37Ealice` keys (uriKey) to `uri:https://home.example.com/%7Ealice`:
 * `%37` is the unreserved '7', decoded, and the '%' before it now starts `%7E`. That key is not in
 * normal form: keyed again (normalKey(), which FleetState.apply() runs on every subject field it
 * indexes, live ops and snapshot loads alike) it becomes `uri:https://home.example.com/~alice`. The
 * peer's own identifier (its certificate's URI SAN, the same text) is keyed once, so the revocation
 * that names exactly the SAN's spelling is indexed under another key and cuts nothing.
 *
 * A correct library has an idempotent normal form (decode escapes in one left-to-right pass over the
 * text, never letting a decoded character join a preceding '%'), or keys both sides the same number
 * of times: a revocation naming the exact spelling a certificate carries always cuts its peer.
 *
 * Attack class: canonical names / lossy conversion (a non-idempotent normal form), fail-open revocation.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { DevelopmentCA } from '../dist/dev/pki.js';

t.test('a revocation naming the exact URI SAN cuts its peer', async (t) => {
  const san = 'https://home.example.com/%%37Ealice';
  const ca = await DevelopmentCA.create({ intermediate: false });
  const cert = await ca.issueClient({ commonName: 'alice', altNames: [san] });
  const leaf = new X509Certificate(cert.cert);
  t.ok(leaf.subjectAltName?.includes(san), 'the SAN holds the spelling');
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  const event = { type: 'subject-revoked', subject: { format: 'uri', uri: san }, before: Date.now() + 1_000 };
  for (const op of stateOps(checkEvent(event))) state.apply(op);
  const facts = { chain: [leaf], token: undefined, connectionSince: Date.now() - 1_000, tier: 'owned' as const };
  t.same(guard.judge(facts, Date.now()), { deny: 'subject-revoked' }, 'revoked');
});
