/**
 * A strict member back from a partition longer than one read batch: it turns fresh only once it has
 * applied everything published meanwhile, so a revocation at the end of a long backlog is in force
 * the moment it is fresh.
 */
import t from 'tap';
import { createFleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { certs } from './helpers/certs';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('fresh only after a backlog longer than one read is applied', { timeout: 30_000 }, async (t) => {
  const redis = await startRedis(t);
  const proxy = await redis.proxy();
  const a = await createFleet({ redis: proxy.url, name: 'backlog', maxStaleness: 300, staleness: 'strict' });
  t.teardown(() => a.close());
  const b = await createFleet({ redis: redis.url, name: 'backlog' });
  t.teardown(() => b.close());
  a.on('warning', () => {});
  const { target, host } = fakeTarget();
  a.watch(target);
  const peer = facts([certs.clientCert, certs.intermediate]);

  const stale = new Promise<void>((resolve) => a.once('stale', () => resolve()));
  proxy.cut();
  await stale;
  // More entries than the reader takes in one read, the revocation last.
  const subject = { format: 'email' as const, email: 'busy@example.com' };
  await Promise.all(Array.from({ length: 700 }, (_, i) => b.publish({ type: 'signals', subject, signals: { i } })));
  await b.revokeCertificate({ serial: peer.chain[0]!.serialNumber });

  const atFresh = new Promise<unknown>((resolve) => a.once('fresh', () => resolve(host.judge(peer))));
  proxy.restore();
  const verdict = await Promise.race([atFresh, new Promise((r) => setTimeout(() => r('no fresh event'), 15_000))]);
  t.match(verdict, { deny: 'certificate-revoked' }, 'the last entry of the backlog is in force when a is fresh');
});
