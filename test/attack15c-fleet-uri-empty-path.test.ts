/**
 * Attack: an http(s) URI subject spelled with an empty path. The certificate's URI SAN says
 * `https://idp.example.com/` (as a URL library writes it back); the identity provider's revocation
 * names `https://idp.example.com` (as issuers and `iss`-like identifiers are usually written, with
 * no trailing slash). RFC 3986 section 6.2.3, the section whose default-port rule uriKey() applies,
 * says in the same paragraph that for schemes defining a default path (http, https) an empty path is
 * normalised to "/": the two are one URI. uriKey() drops ':443' but keeps the empty path, so the two
 * spellings get two index keys and the revocation cuts nothing.
 *
 * A correct library keys an empty path of an http/https/ws/wss URI with an authority as "/", so both
 * spellings match the SAN (revocations err towards cutting).
 *
 * Attack class: canonical names (an equivalent spelling of the subject), fail-open revocation.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { DevelopmentCA } from '../dist/dev/pki.js';

t.test('a URI subject with an empty path matches the SAN with "/"', async (t) => {
  const ca = await DevelopmentCA.create({ intermediate: false });
  const cert = await ca.issueClient({ commonName: 'svc', altNames: ['https://idp.example.com/'] });
  const leaf = new X509Certificate(cert.cert);
  t.match(leaf.subjectAltName, /URI:https:\/\/idp\.example\.com\//);
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  const event = {
    type: 'subject-revoked',
    subject: { format: 'uri', uri: 'https://idp.example.com:443' },
    before: Date.now() + 1_000,
  };
  for (const op of stateOps(checkEvent(event))) state.apply(op);
  const facts = { chain: [leaf], token: undefined, connectionSince: Date.now() - 1_000, tier: 'owned' as const };
  t.same(guard.judge(facts, Date.now()), { deny: 'subject-revoked' }, 'revoked');
});
