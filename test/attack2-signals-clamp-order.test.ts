/**
 * Attack: a CAEP signal's `at` is clamped to the receiver's now (caep.ts signals()). A transmitter
 * whose clock runs ahead, within the clockTolerance its SETs are accepted with, loses its order:
 * every signal's `at` becomes its arrival time. The transmitter said "not compliant" 5 s after
 * "compliant" (on its clock), the push of "compliant" was delayed and arrives second: it gets the
 * later `at`, so the `max` rule keeps the older `compliant`. Exactly the late-delivery case the
 * signals order fix was for. session-revoked clamps to now + tolerance instead; signals should too.
 */
import t from 'tap';
import { createFleet } from '../dist/index.js';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { AUDIENCE, CAEP } from './helpers/ssf';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('a transmitter 20 s ahead keeps its signals in order', { timeout: 20_000 }, async (t) => {
  const redis = await startRedis(t);
  const fleet = await createFleet({ redis: redis.url, name: 'clamp' });
  t.teardown(() => fleet.close());
  const { target, host } = fakeTarget();
  fleet.watch(target);
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const receiver = ssfReceiver({ issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks(), fleet });
  const subject = { format: 'email', email: 'dev@example.com' } as const;
  const ahead = Math.floor(Date.now() / 1000) + 20; // the transmitter's clock, inside the 30 s tolerance
  const change = (jti: string, at: number, current: string, previous: string) =>
    transmitter.sign({
      audience: AUDIENCE,
      subject,
      jti,
      iat: at,
      events: {
        [`${CAEP}device-compliance-change`]: {
          current_status: current,
          previous_status: previous,
          event_timestamp: at,
        },
      },
    });
  const older = await change('older', ahead - 5, 'compliant', 'not-compliant');
  const newer = await change('newer', ahead, 'not-compliant', 'compliant');
  await receiver.receive(newer);
  await new Promise((resolve) => setTimeout(resolve, 20));
  await receiver.receive(older); // the delayed delivery of the earlier event
  const peer = facts([], {
    token: { iss: 'https://idp.test', sub: 'x', email: 'dev@example.com', email_verified: true },
  });
  t.match(host.judge(peer), { signals: { device: { current_status: 'not-compliant' } } }, 'the latest event wins');
});
