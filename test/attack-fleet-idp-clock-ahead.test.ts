/**
 * Attack: an identity provider whose clock runs ahead of ours (within the receiver's clockTolerance,
 * 30 s by default) issues a token, then revokes that session. The token's `iat` and the SET's
 * `event_timestamp` are both on the provider's clock, and the token was issued before the revocation;
 * but the receiver clamps the revocation's `before` to its own `now`, which is earlier than the
 * token's `iat`, so the token's session is judged to have begun after the revocation and survives.
 */
import t from 'tap';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { AUDIENCE, CAEP, fakeFleet } from './helpers/ssf';

t.test('a session revoked by an identity provider whose clock is 20 s ahead is cut', async (t) => {
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const fleet = fakeFleet();
  const receiver = ssfReceiver({ issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks(), fleet });
  const idpNow = Math.floor(Date.now() / 1000) + 20; // the provider's clock
  const token = { iss: 'https://idp.test', sub: 'user-1', iat: idpNow - 5 }; // issued 5 s before the revocation
  const set = await transmitter.sign({
    audience: AUDIENCE,
    subject: { format: 'iss_sub', iss: 'https://idp.test', sub: 'user-1' },
    jti: 'ahead-1',
    iat: idpNow,
    events: { [`${CAEP}session-revoked`]: { event_timestamp: idpNow } },
  });
  await receiver.receive(set);
  const call = fleet.calls[0];
  t.equal(call?.method, 'revokeSubject');
  if (call?.method !== 'revokeSubject') return;
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  const event = { type: 'subject-revoked', subject: call.subject, before: call.options?.before };
  for (const op of stateOps(checkEvent(event))) state.apply(op);
  const facts = { chain: [], token, connectionSince: Date.now() - 60_000, tier: 'request' as const };
  t.same(guard.judge(facts, Date.now()), { deny: 'subject-revoked' }, 'the token issued before the revocation is cut');
});
