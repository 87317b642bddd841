/**
 * Attack: a revocation delivered late is refused for good. RFC 8936 transmitters hold SETs until the
 * receiver acknowledges them, and RFC 8935 transmitters retry a push; so after a receiver outage (a
 * deploy, a partition, a slow backoff) of a little over five minutes, the session-revoked issued at
 * its start arrives with an `iat` older than `maxAge`. The receiver answers it with
 * `invalid_request` ("the SET is too old"): RFC 8935 §2.4 / RFC 8936 `setErrs` tell the transmitter
 * the SET itself is bad, so it stops delivering it, and the session it revoked is never cut. An
 * attacker who can delay delivery (or who simply acts during an outage) keeps a revoked session.
 *
 * A correct library applies a verified revocation however late it arrives (its `before` is fixed
 * by the event's own time, so applying it again is harmless), keeping the jti as long as it accepts
 * that iat; or at the very least never answers a late but genuine revocation with an error that makes
 * the transmitter discard it.
 *
 * Attack class: time and trust (a fact whose effect should reach every connection but does not),
 * fail-open.
 */
import t from 'tap';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { AUDIENCE, CAEP, fakeFleet } from './helpers/ssf';

t.test('a genuine session-revoked delivered six minutes late is applied', async (t) => {
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const fleet = fakeFleet();
  const receiver = ssfReceiver({ issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks(), fleet });
  const alice = { format: 'email', email: 'alice@example.com' } as const;
  const issued = Math.floor(Date.now() / 1000) - 6 * 60;
  const token = await transmitter.sign({
    audience: AUDIENCE,
    jti: 'late-1',
    iat: issued,
    subject: alice,
    events: { [`${CAEP}session-revoked`]: { event_timestamp: issued } },
  });
  let refused: unknown;
  await receiver.receive(token).catch((err: unknown) => (refused = err));
  t.notMatch(refused, { ssfError: 'invalid_request' }, 'not refused as a bad SET the transmitter will drop');
  t.same(
    fleet.calls.map((c) => c.method),
    ['revokeSubject'],
    "alice's sessions are revoked",
  );
});
