/**
 * Attack: signals expire in Redis (the publish script's sweep) and in FleetState (its prune), but
 * FleetMember keeps every field it ever applied in #fields, the copy it writes back to a feed that
 * lost its data. So every signals event ever received stays in every member's memory for the life
 * of the process (the growth the signals expiry was added to stop), and a FLUSHALL, which needs no
 * attacker, makes each member write all of them back: expired garbage re-published into the feed.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { createFleet } from '../dist/index.js';
import { FEED_EXPIRY_GRACE_MS } from '../dist/fleet/feed.js';
import { haveRedis, startRedis } from './helpers/redis';

if (!haveRedis) t.plan(0, 'no redis-server');

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('expired signals are not kept by members nor written back', { timeout: 30_000 }, async (t) => {
  const redis = await startRedis(t);
  const name = 'expired';
  const fleet = await createFleet({ redis: redis.url, name, maxStaleness: 3_000 });
  t.teardown(() => fleet.close());
  const warnings: Array<{ code?: string; message: string }> = [];
  fleet.on('warning', (warning: { code?: string; message: string }) => warnings.push(warning));
  // Expired longer ago than the feed keeps entries for members whose clocks run behind Redis's.
  const now = Date.now() - FEED_EXPIRY_GRACE_MS - 60_000;
  for (let i = 0; i < 40; i++) {
    await fleet.publish({
      type: 'signals',
      subject: { format: 'email', email: `user${i}@example.com` },
      signals: { device: { current_status: 'compliant' } },
      at: now,
      expiresAt: now + 100,
    });
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  // One live signal; its publish sweeps the expired ones from the feed.
  await fleet.publish({
    type: 'signals',
    subject: { format: 'email', email: 'live@example.com' },
    signals: { device: { current_status: 'compliant' } },
  });
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  const before = await raw.hlen(`ctls:{${name}}:state:signals`);
  t.ok(before <= 4, `the feed swept the expired signals (${before} fields left)`);

  await raw.flushall();
  await until('the member wrote back', () => warnings.some((w) => w.code === 'ERR_CTLS_FLEET_RECREATED'));
  const after = await raw.hlen(`ctls:{${name}}:state:signals`);
  const message = warnings.find((w) => w.code === 'ERR_CTLS_FLEET_RECREATED')?.message ?? '';
  t.ok(after <= 4, `only live signals were written back (${after} fields; ${message})`);
});
