/**
 * Attack: a strict fleet member that went stale (feed unreachable) flips back to fresh as soon as
 * it can read the feed's position, before it has applied the entries published while it was away.
 * In that window a certificate revoked during the partition is admitted.
 */
import t from 'tap';
import { createFleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { certs } from './helpers/certs';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('a stale member stays denying until it has caught up with the feed', { timeout: 20_000 }, async (t) => {
  const redis = await startRedis(t);
  const proxy = await redis.proxy();
  const a = await createFleet({ redis: proxy.url, name: 'fresh', maxStaleness: 300, staleness: 'strict' });
  t.teardown(() => a.close());
  const b = await createFleet({ redis: redis.url, name: 'fresh' });
  t.teardown(() => b.close());
  a.on('warning', () => {});
  const { target, host } = fakeTarget();
  a.watch(target);
  const peer = facts([certs.clientCert, certs.intermediate]);
  t.same(host.judge(peer), {}, 'admitted before the revocation');

  const stale = new Promise<void>((resolve) => a.once('stale', () => resolve()));
  proxy.cut();
  await stale;
  t.match(host.judge(peer), { deny: 'fleet-stale' }, 'stale: denied');

  // Published while member a cannot hear the feed.
  await b.revokeCertificate({ serial: peer.chain[0]!.serialNumber });

  const atFresh = new Promise<unknown>((resolve) => a.once('fresh', () => resolve(host.judge(peer))));
  proxy.restore();
  const verdict = await Promise.race([atFresh, new Promise((r) => setTimeout(() => r('no fresh event'), 10_000))]);
  t.not(verdict, 'no fresh event');
  t.not((verdict as { deny?: string }).deny, undefined, 'the revoked certificate is denied the moment a is fresh');
});
