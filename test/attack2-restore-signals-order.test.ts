/**
 * Attack: a feed that lost its data (FLUSHALL, a failover to a stale replica) gets a signals entry
 * before a member notices, e.g. an identity provider's retry of an OLDER SET (its jti claim was
 * lost with the data). The member writes its state back with the signals' merge rule 'set'
 * (RESTORE_SCRIPT keeps the field the feed holds) and then merges the feed's snapshot with 'set'
 * (#useSnapshot: MERGE_RULE.signals), so the older `compliant` replaces the newer `not-compliant`
 * it held: the same fail-open the signals `max` rule (by `at`) closes for entries, reopened by the
 * restore path.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { createFleet } from '../dist/index.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { publishOnce } from '../dist/fleet/feed.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';

if (!haveRedis) t.plan(0, 'no redis-server');

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('a restore racing an older signals publish keeps the newer signal', { timeout: 30_000 }, async (t) => {
  const redis = await startRedis(t);
  const fleet = await createFleet({ redis: redis.url, name: 'sigrestore', maxStaleness: 3_000 });
  t.teardown(() => fleet.close());
  const codes: string[] = [];
  fleet.on('warning', (warning: { code?: string }) => codes.push(String(warning.code)));
  const { target, host } = fakeTarget();
  fleet.watch(target);
  const subject = { format: 'email' as const, email: 'bob@example.com' };
  const now = Date.now();
  const older = { type: 'signals' as const, subject, signals: { device: 'compliant' }, at: now - 60_000 };
  const newer = { type: 'signals' as const, subject, signals: { device: 'not-compliant' }, at: now - 1_000 };
  await fleet.publish(newer);
  await fleet.publish(older);
  const bob = facts([], { token: { email: 'bob@example.com', email_verified: true, iat: Math.floor(now / 1000) } });
  t.same(host.judge(bob), { signals: { device: 'not-compliant' } }, 'before the loss: the newer signal holds');

  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  await raw.flushall();
  // The older SET delivered again, onto the emptied feed, before the member noticed the loss.
  const checked = checkEvent(older);
  const entry = JSON.stringify({ at: Date.now(), origin: 'receiver', event: checked });
  await publishOnce(redis.url, 'sigrestore', entry, stateOps(checked), { timeoutMs: 5_000 });
  await until('the member wrote back', () => codes.includes('ERR_CTLS_FLEET_RECREATED'));
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.same(host.judge(bob), { signals: { device: 'not-compliant' } }, 'after the restore: still the newer signal');
});
