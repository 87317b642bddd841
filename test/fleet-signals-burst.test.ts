/**
 * A burst of signals events against a slow host: the reader never waits for the host, a revocation
 * behind the burst is in force at once, and the host re-decides the burst in at most a couple of
 * batched rounds rather than one concurrent round per event.
 */
import t from 'tap';
import { createFleet } from '../dist/index.js';
import type { Decision } from '../dist/common/types.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { certs } from './helpers/certs';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('signals re-decisions are batched per host; revocations do not wait', { timeout: 20_000 }, async (t) => {
  const redis = await startRedis(t);
  const a = await createFleet({ redis: redis.url, name: 'burst' });
  t.teardown(() => a.close());
  const { target, host } = fakeTarget();
  let inFlight = 0;
  let most = 0;
  const recheck = host.recheckKeys.bind(host);
  host.recheckKeys = async (keys, trigger) => {
    if (trigger !== 'signals') return recheck(keys, trigger) as Promise<Decision[]>;
    most = Math.max(most, ++inFlight);
    await new Promise((resolve) => setTimeout(resolve, 150));
    inFlight--;
    return recheck(keys, trigger) as Promise<Decision[]>;
  };
  a.watch(target);
  const peer = facts([certs.clientCert, certs.intermediate]);

  const signals = Array.from({ length: 30 }, (_, i) =>
    a.publish({ type: 'signals', subject: { format: 'email', email: `u${i}@example.com` }, signals: { i } }),
  );
  const revoked = a.revokeCertificate({ serial: peer.chain[0]!.serialNumber });
  const started = Date.now();
  while (host.judge(peer).deny === undefined && Date.now() - started < 5_000)
    await new Promise((resolve) => setTimeout(resolve, 5));
  t.ok(Date.now() - started < 1_000, 'the revocation is in force before the burst is re-decided');
  await Promise.all([...signals, revoked]);
  const rounds = host.rechecks.filter((r) => r.trigger === 'signals');
  t.equal(most, 1, 'one signals re-decision in flight at a time');
  t.ok(rounds.length <= 3, `the burst is re-decided in a few batched rounds (${rounds.length})`);
  const keys = new Set(rounds.flatMap((r) => r.keys));
  t.equal(keys.size, 30, 'every subject of the burst is re-decided');
});

t.test('a throwing applied listener does not stop later publishes', { timeout: 20_000 }, async (t) => {
  const redis = await startRedis(t);
  const a = await createFleet({ redis: redis.url, name: 'listener' });
  t.teardown(() => a.close());
  const warnings: unknown[] = [];
  a.on('warning', (warning) => warnings.push(warning));
  let thrown = false;
  a.on('applied', () => {
    if (thrown) return;
    thrown = true;
    throw new Error('listener bug');
  });
  await a.invalidatePolicy('first');
  const receipt = await Promise.race([
    a.invalidatePolicy('second'),
    new Promise((resolve) => setTimeout(() => resolve('stuck'), 3_000)),
  ]);
  t.not(receipt, 'stuck', 'the next publish resolves');
  t.match(warnings, [{ message: 'listener bug' }], 'the listener error is reported');
});
