/**
 * Attack: subject emails are matched by lower-casing only. An identity provider names the subject of a
 * session-revoked with its domain in Unicode (`alice@bücher.example`, or in another Unicode
 * normalisation form), the certificate's email SAN holds the IA5 (A-label) spelling
 * `alice@xn--bcher-kva.example`: the same mailbox, two index keys, and the revocation cuts nothing.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { DevelopmentCA } from '../dist/dev/pki.js';

t.test('a subject revocation matches an email whatever the spelling of its domain', async (t) => {
  const ca = await DevelopmentCA.create({ intermediate: false });
  const alice = await ca.issueClient({ commonName: 'alice', altNames: ['alice@xn--bcher-kva.example'] });
  const leaf = new X509Certificate(alice.cert);
  t.match(leaf.subjectAltName, /email:alice@xn--bcher-kva\.example/);
  for (const email of ['alice@bücher.example', 'alice@bu\u0308cher.example', 'alice@BÜCHER.example']) {
    const state = new FleetState();
    const guard = new FleetGuard(state, { stale: false, strict: true });
    const event = { type: 'subject-revoked', subject: { format: 'email', email }, before: Date.now() + 1_000 };
    for (const op of stateOps(checkEvent(event))) state.apply(op);
    const facts = { chain: [leaf], token: undefined, connectionSince: Date.now() - 1_000, tier: 'owned' as const };
    t.same(guard.judge(facts, Date.now()), { deny: 'subject-revoked' }, `revoked as ${JSON.stringify(email)}`);
  }
});
