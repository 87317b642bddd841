/**
 * Attack: Redis restarts without its data (no persistence, a failover to an empty replica, FLUSHALL).
 * A member that notices the feed was recreated reloads the (now empty) snapshot and forgets every
 * revocation it held: a revoked certificate is admitted again, silently.
 */
import t from 'tap';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createFleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { certs } from './helpers/certs';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('a feed that lost its data does not erase revocations', { timeout: 20_000 }, async (t) => {
  const redis = await startRedis(t);
  const fleet = await createFleet({ redis: redis.url, name: 'amnesia', maxStaleness: 5_000 });
  t.teardown(() => fleet.close());
  fleet.on('warning', () => {});
  const { target, host } = fakeTarget();
  fleet.watch(target);
  const peer = facts([certs.clientCert, certs.intermediate]);
  await fleet.revokeCertificate({ serial: peer.chain[0]!.serialNumber });
  t.match(host.judge(peer), { deny: 'certificate-revoked' });

  const reloaded = new Promise<void>((resolve) => fleet.once('snapshot', () => resolve()));
  await redis.kill();
  for (const file of readdirSync(redis.dir)) rmSync(join(redis.dir, file), { recursive: true, force: true });
  await redis.start();
  await Promise.race([reloaded, new Promise((r) => setTimeout(r, 8_000))]);
  t.equal(fleet.status().stale, false, 'the member is fresh again');
  t.not(host.judge(peer).deny, undefined, 'the revoked certificate is still denied (or the member refuses)');
});
