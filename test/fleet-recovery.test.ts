/**
 * Nothing lost: members ride out a Redis killed with -9 and restarted (every entry applied once, in
 * order), a member cut off while the stream was trimmed past it reloads the snapshot, and a fleet
 * that cannot hear its feed for longer than maxStaleness denies (strict) or warns (best-effort).
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { createFleet, type Fleet, type FleetEntry } from '../dist/index.js';
import { compareIds } from '../dist/fleet/fleet.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { certs } from './helpers/certs';

if (!haveRedis) t.plan(0, 'no redis-server');

async function member(t: Test, url: string, name: string, extra: Record<string, unknown> = {}): Promise<Fleet> {
  const fleet = await createFleet({ redis: url, name, ...extra });
  t.teardown(() => fleet.close());
  return fleet;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `promise`, or a failure after `ms`: no wait in this file outlives its test. */
function within<T>(promise: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Publishes, retrying while Redis is away (a publish that fails was not written). */
async function publishSoon(fleet: Fleet, serial: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await fleet.revokeCertificate({ serial })).id;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_CTLS_FLEET_UNAVAILABLE' || attempt > 200) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

t.test('Redis killed with -9 and restarted mid-run: every member applies every entry once, in order', async (t) => {
  const redis = await startRedis(t);
  const fleets = [await member(t, redis.url, 'crash'), await member(t, redis.url, 'crash')];
  const seen = fleets.map((fleet) => {
    const ids: string[] = [];
    fleet.on('applied', (entry: FleetEntry) => ids.push(entry.id));
    fleet.on('snapshot', () => ids.push('snapshot'));
    return ids;
  });
  const published: string[] = [];
  for (let i = 0; i < 20; i++) published.push(await publishSoon(fleets[i % 2]!, (0x100 + i).toString(16)));
  await redis.kill();
  await t.rejects(fleets[0]!.revokeCertificate({ serial: 'DEAD' }), { code: 'ERR_CTLS_FLEET_UNAVAILABLE' });
  await redis.start();
  for (let i = 20; i < 40; i++) published.push(await publishSoon(fleets[i % 2]!, (0x100 + i).toString(16)));
  await until('both members caught up', () => seen.every((ids) => ids.length >= published.length));
  for (const [i, ids] of seen.entries()) t.same(ids, published, `member ${i}: all 40, once each, in order`);
  for (const fleet of fleets) t.equal(fleet.status().revokedSerials, 40);
});

t.test('a member cut off while the stream was trimmed past it reloads the snapshot', async (t) => {
  const redis = await startRedis(t);
  const proxy = await redis.proxy();
  const a = await member(t, redis.url, 'trim', { maxEntries: 10 });
  const b = await member(t, proxy.url, 'trim');
  const { target, host } = fakeTarget();
  b.watch(target);
  await a.revokeCertificate({ serial: '01' });
  await until('b applied the first entry', () => b.status().revokedSerials === 1);
  proxy.cut();
  for (let i = 0; i < 300; i++) await a.revokeCertificate({ serial: (0x1000 + i).toString(16) });
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  const length = await raw.xlen('ctls:{trim}:events');
  t.ok(length < 300, `stream trimmed to ${length} entries`);
  t.equal(
    await raw.hget('ctls:{trim}:state:meta', 'maxEntries'),
    '10',
    "the members' length is kept for other writers",
  );
  const [oldest] = await raw.xrange('ctls:{trim}:events', '-', '+', 'COUNT', 1);
  t.equal(compareIds(oldest![0], b.status().lastEventId!), 1, "trimmed past b's position");
  const reloaded = once(b, 'snapshot');
  proxy.restore();
  const [info] = (await within(reloaded, 'snapshot')) as [{ reason: string }];
  t.match(info.reason, /trimmed/);
  // Only the oldest entries went: the stream's history still agrees with b's, nothing is written back.
  t.notMatch(info.reason, /written back/, 'a trim is not taken for a lost feed');
  await until('b caught up', () => b.status().lastEventId === a.status().lastEventId);
  t.equal(b.status().revokedSerials, 301);
  t.equal(host.invalidations, 1, 'the watched host re-decided under the reloaded state');
  t.match(host.judge(facts([certs.clientCert]), Date.now()), {});
});

t.test('strict: a fleet that has not heard its feed for maxStaleness denies, and recovers', async (t) => {
  const redis = await startRedis(t);
  const proxy = await redis.proxy();
  const fleet = await member(t, proxy.url, 'stale', { maxStaleness: 300 });
  const { target, host } = fakeTarget();
  fleet.watch(target);
  const peer = facts([certs.clientCert]);
  t.same(host.judge(peer), {});
  const generation = host.guards.generation;
  const warning = once(fleet, 'warning');
  proxy.cut();
  const cutAt = Date.now();
  await within(once(fleet, 'stale'), 'stale');
  t.ok(Date.now() - cutAt >= 250, 'not before maxStaleness');
  t.match((await within(warning, 'warning'))[0], { code: 'ERR_CTLS_FLEET_STALE' });
  t.match(host.judge(peer), { deny: 'fleet-stale', error: { code: 'ERR_CTLS_FLEET_STALE' } });
  t.ok(host.guards.generation > generation, 'a transition is a change of trust');
  t.equal(fleet.status().stale, true);
  proxy.restore();
  await within(once(fleet, 'fresh'), 'fresh');
  t.same(host.judge(peer), {});
  t.equal(fleet.status().stale, false);
});

t.test('a link that stops answering without closing is dropped and opened again', async (t) => {
  const redis = await startRedis(t);
  const proxy = await redis.proxy();
  const fleet = await member(t, proxy.url, 'halfopen', { maxStaleness: 300, connectTimeout: 500 });
  fleet.on('warning', () => {});
  const publisher = await member(t, redis.url, 'halfopen');
  proxy.freeze();
  await within(once(fleet, 'stale'), 'stale');
  proxy.restore();
  const { id } = await publisher.revokeCertificate({ serial: 'AB' });
  await within(once(fleet, 'fresh'), 'fresh');
  await until('the entry published meanwhile', () => fleet.status().lastEventId === id);
  t.equal(fleet.status().revokedSerials, 1);
});

t.test('close() does not wait on a link that stopped answering', async (t) => {
  const redis = await startRedis(t);
  const proxy = await redis.proxy();
  const fleet = await member(t, proxy.url, 'closing');
  fleet.on('warning', () => {});
  proxy.freeze();
  const started = Date.now();
  await fleet.close();
  t.ok(Date.now() - started < 4000, `closed in ${Date.now() - started} ms`);
  await t.rejects(fleet.revokeCertificate({ serial: '01' }), { code: 'ERR_CTLS_FLEET_CLOSED' });
});

t.test('best-effort: a stale fleet warns and decisions go on', async (t) => {
  const redis = await startRedis(t);
  const proxy = await redis.proxy();
  const fleet = await member(t, proxy.url, 'lax', { maxStaleness: 300, staleness: 'best-effort' });
  const { target, host } = fakeTarget();
  fleet.watch(target);
  const warning = once(fleet, 'warning');
  proxy.cut();
  t.match((await within(warning, 'warning'))[0], { code: 'ERR_CTLS_FLEET_STALE' });
  t.equal(fleet.status().stale, true);
  t.same(host.judge(facts([certs.clientCert])), {});
  proxy.restore();
  await within(once(fleet, 'fresh'), 'fresh');
});

t.test('a feed recreated empty (Redis lost its data) is noticed and reloaded', async (t) => {
  const redis = await startRedis(t);
  const a = await member(t, redis.url, 'lost');
  for (let i = 0; i < 5; i++) await a.revokeCertificate({ serial: (i + 1).toString(16) });
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  const reloaded = once(a, 'snapshot');
  await raw.flushall();
  const b = await member(t, redis.url, 'lost');
  await b.revokeCertificate({ serial: 'FF' });
  await within(reloaded, 'snapshot');
  await until('a follows the new feed', () => a.status().lastEventId === b.status().lastEventId);
  // A feed that lost its data must not make a member forget revocations (ERR_CTLS_FLEET_RECREATED):
  // a keeps its five, writes them back, and b, which joined the empty feed, merges them too.
  t.equal(a.status().revokedSerials, 6, 'a kept what it knew and holds the new feed’s revocation');
  await until('b merges what a wrote back', () => b.status().revokedSerials === 6);
});
