/**
 * Signals are bounded and ordered: one event's signals are stored once however many identifiers it
 * names, each signal keeps the time it was issued and an older one never replaces a newer one (in a
 * member and in the feed's snapshot alike, so a late joiner reads what live members read), and
 * signals expire.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { createFleet } from '../dist/index.js';
import { FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { FEED_EXPIRY_GRACE_MS } from '../dist/fleet/feed.js';

const subject = { format: 'email', email: 'dev@example.com' } as const;
const key = 'email:dev@example.com';

function applied(...events: unknown[]): FleetState {
  const state = new FleetState();
  for (const event of events) for (const op of stateOps(checkEvent(event))) state.apply(op);
  return state;
}

t.test('a signal issued earlier never replaces one issued later, per name', async (t) => {
  const now = Date.now();
  const newer = { type: 'signals', subject, signals: { device: 'not-compliant' }, at: now - 10_000 };
  const older = { type: 'signals', subject, signals: { device: 'compliant', level: 1 }, at: now - 60_000 };
  t.same(applied(newer, older).signalsOf(key, now), { device: 'not-compliant', level: 1 }, 'late older event');
  t.same(applied(older, newer).signalsOf(key, now), { device: 'not-compliant', level: 1 }, 'in order');
  const same = { ...newer, signals: { device: 'unknown' } };
  t.same(applied(newer, same).signalsOf(key, now), { device: 'unknown' }, 'the same time: the later arrival');
});

t.test('signals expire: by default a day after they were issued', async (t) => {
  const now = Date.now();
  const state = applied({ type: 'signals', subject, signals: { a: 1 }, at: now, expiresAt: now + 1_000 });
  t.same(state.signalsOf(key, now), { a: 1 });
  t.equal(state.signalsOf(key, now + 1_000), undefined, 'gone at its expiresAt');
  const event = checkEvent({ type: 'signals', subject, signals: { a: 1 }, at: now }) as { expiresAt?: number };
  t.equal(event.expiresAt, now + 24 * 60 * 60 * 1000);
});

t.test('signals named __proto__ stay data', async (t) => {
  const signals = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
  const found = applied({ type: 'signals', subject, signals, at: Date.now() }).signalsOf(key, Date.now())!;
  t.same(Object.getPrototypeOf(found), Object.prototype);
  t.same(Object.getOwnPropertyDescriptor(found, '__proto__')?.value, { polluted: true });
});

t.test('one event stores its signals once, whatever number of identifiers it names', async (t) => {
  const identifiers = Array.from({ length: 64 }, (_, i) => ({ format: 'email', email: `u${i}@x.io` }));
  const signals = { blob: 'x'.repeat(4_000) };
  const ops = stateOps(checkEvent({ type: 'signals', subject: { format: 'aliases', identifiers }, signals }));
  const bytes = ops.reduce((sum, op) => sum + op.field.length + op.value.length, 0);
  t.ok(bytes < 4_000 + 64 * 100, `${ops.length} operations of ${bytes} bytes`);
});

t.test('oversized signals and events are refused with a code', async (t) => {
  const bad = (event: unknown, what: string): void =>
    void t.throws(() => checkEvent(event), { code: 'ERR_CTLS_FLEET_BAD_EVENT' }, what);
  bad({ type: 'signals', subject, signals: { blob: 'x'.repeat(4_100) } }, 'signals over 4 KB');
  bad({ type: 'signals', subject, signals: { blob: 'é'.repeat(2_100) } }, 'signals over 4 KB in UTF-8');
  const identifiers = Array.from({ length: 65 }, (_, i) => ({ format: 'email', email: `u${i}@x.io` }));
  bad({ type: 'signals', subject: { format: 'aliases', identifiers }, signals: {} }, 'more than 64 identifiers');
  const long = Array.from({ length: 20 }, (_, i) => ({ format: 'uri', uri: `https://x/${i}/${'y'.repeat(2_000)}` }));
  bad({ type: 'subject-revoked', subject: { format: 'aliases', identifiers: long }, before: 1 }, 'an event over 32 KB');
  bad({ type: 'signals', subject, signals: {}, at: 'yesterday' }, 'a non-numeric at');
});

t.test('on Redis', { skip: haveRedis ? false : 'no redis-server', timeout: 30_000 }, async (t) => {
  const redis = await startRedis(t);
  const live = await createFleet({ redis: redis.url, name: 'signals' });
  t.teardown(() => live.close());
  const liveTarget = fakeTarget();
  live.watch(liveTarget.target);
  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  const now = Date.now();

  await live.publish({ type: 'signals', subject, signals: { device: 'not-compliant' }, at: now - 10_000 });
  await live.publish({ type: 'signals', subject, signals: { device: 'compliant' }, at: now - 60_000 });
  const peer = facts([], {
    token: { iss: 'https://idp.test', sub: 'x', email: 'dev@example.com', email_verified: true },
  });
  t.same(liveTarget.host.judge(peer), { signals: { device: 'not-compliant' } }, 'a live member keeps the latest');
  const late = await createFleet({ redis: redis.url, name: 'signals' });
  t.teardown(() => late.close());
  const lateTarget = fakeTarget();
  late.watch(lateTarget.target);
  t.same(lateTarget.host.judge(peer), { signals: { device: 'not-compliant' } }, 'so does the snapshot');

  const identifiers = Array.from({ length: 64 }, (_, i) => ({ format: 'email' as const, email: `u${i}@x.io` }));
  const blob = 'x'.repeat(4_000);
  await live.publish({ type: 'signals', subject: { format: 'aliases', identifiers }, signals: { blob } });
  const bytes = Number(await client.call('MEMORY', 'USAGE', 'ctls:{signals}:state:signals', 'SAMPLES', '0'));
  t.ok(bytes < 32_000, `64 identifiers of one 4 KB event keep ${bytes} bytes (not 64 copies)`);

  const expiring = { format: 'email' as const, email: 'gone@x.io' };
  // Expired longer ago than the feed keeps entries for members whose clocks run behind Redis's.
  const longAgo = now - FEED_EXPIRY_GRACE_MS - 1;
  await live.publish({
    type: 'signals',
    subject: expiring,
    signals: { a: 1 },
    at: longAgo - 5_000,
    expiresAt: longAgo,
  });
  const fields = async (): Promise<string[]> => (await client.hkeys('ctls:{signals}:state:signals')) as string[];
  t.notOk(
    (await fields()).some((field) => field.includes('gone@x.io')),
    'the script sweeps expired signals',
  );
});
