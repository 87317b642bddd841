/**
 * Attack: with a fleet, the SSF receiver asks only its own process's memory before applying a SET
 * and claims the jti fleet-wide after (FleetReplayStore). A SET already applied through another
 * process is therefore applied again when a copy reaches this one (a transmitter's retry after a
 * lost 202, or a replay of a captured push within maxAge). For signals that is not idempotent:
 * CAEP's event_timestamp has whole seconds, the `max` rule keeps the later-applied of two signals
 * of the same second, so the replayed older `compliant` replaces the `not-compliant` that
 * followed it in that second; every process then admits a non-compliant device.
 */
import t from 'tap';
import { createFleet } from '../dist/index.js';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { AUDIENCE, CAEP } from './helpers/ssf';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('a SET applied by one process and replayed to another changes nothing', { timeout: 20_000 }, async (t) => {
  const redis = await startRedis(t);
  const first = await createFleet({ redis: redis.url, name: 'replaytie' });
  t.teardown(() => first.close());
  const second = await createFleet({ redis: redis.url, name: 'replaytie' });
  t.teardown(() => second.close());
  const { target, host } = fakeTarget();
  second.watch(target);
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const options = { issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks() };
  const one = ssfReceiver({ ...options, fleet: first });
  const two = ssfReceiver({ ...options, fleet: second });
  const subject = { format: 'email', email: 'dev@example.com' } as const;
  const now = Math.floor(Date.now() / 1000) - 5;
  const change = (jti: string, current: string, previous: string) =>
    transmitter.sign({
      audience: AUDIENCE,
      subject,
      jti,
      iat: now,
      events: {
        [`${CAEP}device-compliance-change`]: {
          current_status: current,
          previous_status: previous,
          event_timestamp: now,
        },
      },
    });
  // The device turned compliant and, within the same second, not compliant again.
  const compliant = await change('c-1', 'compliant', 'not-compliant');
  const notCompliant = await change('n-2', 'not-compliant', 'compliant');
  await one.receive(compliant);
  await one.receive(notCompliant);
  const peer = facts([], {
    token: { iss: 'https://idp.test', sub: 'x', email: 'dev@example.com', email_verified: true },
  });
  const until = async (check: () => boolean): Promise<void> => {
    const deadline = Date.now() + 5_000;
    while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  };
  const status = (): unknown =>
    (host.judge(peer) as { signals?: { device?: { current_status?: string } } }).signals?.device?.current_status;
  await until(() => status() === 'not-compliant');
  t.equal(status(), 'not-compliant', 'both applied: the device is not compliant');

  // The first SET again, to the other process (the transmitter's retry, or a replay).
  const replay = await two.receive(compliant);
  t.equal(replay[0]?.duplicate, true, 'reported as a duplicate');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(status(), 'not-compliant', 'the replayed SET did not bring back the older status');
});
