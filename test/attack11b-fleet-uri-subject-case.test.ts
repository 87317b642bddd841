/**
 * Attack: a subject revocation names a URI subject (RFC 9493 `uri`, e.g. a SPIFFE ID or an https
 * identity URI sent by an identity provider over CAEP) and the peer's certificate carries the same
 * URI in its URI SAN with the scheme and host spelled in another case. RFC 3986 (6.2.2.1) makes
 * scheme and host case-insensitive, so `HTTPS://Workloads.Example.com/ns/prod/sa/api` and
 * `https://workloads.example.com/ns/prod/sa/api` name one identity; the fleet keys URIs verbatim
 * (`uri:${value}`), so the revocation cuts nothing and the revoked workload stays connected. Emails
 * are folded ("matching errs towards cutting"), URIs are not.
 * A correct library matches URI subjects under RFC 3986's case normalisation of scheme and host
 * (at least), or refuses a revocation it cannot match reliably.
 * Attack class: canonical names (a revocation's identity and the wire's identity spelled apart).
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { DevelopmentCA } from '../dist/dev/pki.js';

t.test('a subject revocation matches a URI whatever the case of its scheme and host', async (t) => {
  const ca = await DevelopmentCA.create({ intermediate: false });
  const api = await ca.issueClient({
    commonName: 'api',
    altNames: ['https://Workloads.Example.com/ns/prod/sa/api'],
  });
  const leaf = new X509Certificate(api.cert);
  t.match(leaf.subjectAltName, /URI:https:\/\/Workloads\.Example\.com\/ns\/prod\/sa\/api/);
  for (const uri of ['https://workloads.example.com/ns/prod/sa/api', 'HTTPS://WORKLOADS.EXAMPLE.COM/ns/prod/sa/api']) {
    const state = new FleetState();
    const guard = new FleetGuard(state, { stale: false, strict: true });
    const event = { type: 'subject-revoked', subject: { format: 'uri', uri }, before: Date.now() + 1_000 };
    for (const op of stateOps(checkEvent(event))) state.apply(op);
    const facts = { chain: [leaf], token: undefined, connectionSince: Date.now() - 1_000, tier: 'owned' as const };
    t.same(guard.judge(facts, Date.now()), { deny: 'subject-revoked' }, `revoked as ${JSON.stringify(uri)}`);
  }
});
