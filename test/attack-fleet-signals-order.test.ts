/**
 * Attack: CAEP signals are applied in arrival order, not event order. A device-compliance-change
 * "compliant" SET whose push failed (503) and is retried after a newer "not-compliant" SET was
 * applied overwrites it: policies then read the stale `compliant` and admit a non-compliant device.
 * (RFC 8935/8936 give no delivery order; subject revocations keep the latest `before`, signals do not.)
 */
import t from 'tap';
import { createFleet } from '../dist/index.js';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { AUDIENCE, CAEP } from './helpers/ssf';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('an older compliance event delivered late does not replace a newer one', { timeout: 20_000 }, async (t) => {
  const redis = await startRedis(t);
  const fleet = await createFleet({ redis: redis.url, name: 'order' });
  t.teardown(() => fleet.close());
  const { target, host } = fakeTarget();
  fleet.watch(target);
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const receiver = ssfReceiver({ issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks(), fleet });
  const subject = { format: 'email', email: 'dev@example.com' } as const;
  const now = Math.floor(Date.now() / 1000);
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
  const older = await change('older', now - 60, 'compliant', 'not-compliant');
  const newer = await change('newer', now - 10, 'not-compliant', 'compliant');
  await receiver.receive(newer);
  await receiver.receive(older); // the transmitter's retry of an earlier delivery
  const peer = facts([], {
    token: { iss: 'https://idp.test', sub: 'x', email: 'dev@example.com', email_verified: true },
  });
  t.match(host.judge(peer), { signals: { device: { current_status: 'not-compliant' } } }, 'the latest event wins');
});
