/**
 * Attack: a URI subject with a percent-encoded unreserved character. The certificate's URI SAN says
 * `https://home.example.com/~alice`; the identity provider's revocation names
 * `https://home.example.com/%7Ealice`, as many URL encoders (Java's URLEncoder, older JavaScript
 * escape()) spell `~`. RFC 3986 §2.3 and §6.2.2.2 make them one URI: an unreserved character
 * (ALPHA DIGIT - . _ ~) and its percent-encoding are equivalent and are normalised by decoding.
 * uriKey() only upper-cases the escape's hex digits, so the two spellings get two index keys and the
 * revocation cuts nothing.
 *
 * A correct library decodes percent-encoded unreserved characters (and only those) when it keys a
 * URI, so both spellings match the SAN.
 *
 * Attack class: canonical names (an equivalent spelling of the subject), fail-open revocation.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { DevelopmentCA } from '../dist/dev/pki.js';

t.test('a URI subject with %7E matches the SAN with ~', async (t) => {
  const ca = await DevelopmentCA.create({ intermediate: false });
  const cert = await ca.issueClient({ commonName: 'alice', altNames: ['https://home.example.com/~alice'] });
  const leaf = new X509Certificate(cert.cert);
  t.match(leaf.subjectAltName, /URI:https:\/\/home\.example\.com\/~alice/);
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  const event = {
    type: 'subject-revoked',
    subject: { format: 'uri', uri: 'https://home.example.com/%7Ealice' },
    before: Date.now() + 1_000,
  };
  for (const op of stateOps(checkEvent(event))) state.apply(op);
  const facts = { chain: [leaf], token: undefined, connectionSince: Date.now() - 1_000, tier: 'owned' as const };
  t.same(guard.judge(facts, Date.now()), { deny: 'subject-revoked' }, 'revoked');
});
