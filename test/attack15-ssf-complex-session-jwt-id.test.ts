/**
 * Attack: a revocation lost to one part of a complex subject the receiver does not know. SSF 1.0
 * defines the `jwt_id` (iss + jti of a token) and `saml_assertion_id` subject formats, and a CAEP
 * session-revoked names "user U's session S" as a complex subject whose `session` part uses one of
 * them: `{ format: 'complex', user: { format: 'email', … }, session: { format: 'jwt_id', … } }`.
 * subjectKeys() throws on the unknown `jwt_id` part, so the whole SET is refused as invalid_request
 * (and a fleet publish of the same subject is refused as ERR_CTLS_BAD_SUBJECT): the transmitter is
 * told to drop it, and the user's sessions, which the receiver could have cut through the `user`
 * part (as the documentation says a complex subject does), stay open.
 *
 * A correct library matches a complex subject through the parts it can read and skips the others
 * (errs towards cutting), or knows the SSF 1.0 formats; it never loses the revocation of a part it
 * understands because of a sibling it does not.
 *
 * Attack class: an event whose effect should reach a connection but does not (fail-open).
 */
import t from 'tap';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const AUDIENCE = 'https://rp.test';

t.test("a session-revoked for user U's jwt_id session cuts U", async (t) => {
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const receiver = ssfReceiver({ issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks() });
  const now = Date.now();
  const subject = {
    format: 'complex',
    user: { format: 'email', email: 'alice@example.com' },
    session: { format: 'jwt_id', iss: 'https://idp.test', jti: 'B70BA622-9515-4353-A866-823539EECBC8' },
  };
  const token = await transmitter.sign({
    audience: AUDIENCE,
    jti: 'complex-1',
    subject: subject as never,
    events: { [`${CAEP}session-revoked`]: { event_timestamp: Math.floor(now / 1000) } },
  });
  const events = await receiver.receive(token);
  const action = events[0]!.action!;
  t.equal(action.type, 'subject-revoked');
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  for (const op of stateOps(checkEvent(action))) state.apply(op);
  const alice = {
    iss: 'https://idp.test',
    sub: 'alice',
    email: 'alice@example.com',
    email_verified: true,
    iat: Math.floor(now / 1000) - 600,
  };
  t.same(
    guard.judge({ chain: [], token: alice, connectionSince: now - 600_000, tier: 'owned' as const }, now),
    { deny: 'subject-revoked' },
    "Alice's older session is cut",
  );
});
