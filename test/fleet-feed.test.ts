/**
 * Members of one fleet on a real Redis: an event published at one is applied at every member, in
 * order; a member that joins late holds the current state before createFleet() resolves; entries
 * that are not fleet events are skipped with a warning; claimOnce() is fleet-wide.
 */
import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { createFleet, type Fleet, type RedisTarget } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { FEED_EXPIRY_GRACE_MS } from '../dist/fleet/feed.js';
import { certs } from './helpers/certs';

if (!haveRedis) t.plan(0, 'no redis-server');

async function member(t: Test, url: RedisTarget, name: string, extra: Record<string, unknown> = {}): Promise<Fleet> {
  const fleet = await createFleet({ redis: url, name, ...extra });
  t.teardown(() => fleet.close());
  return fleet;
}

/** Resolves when `fleet` has applied the entry `id`. */
function applied(fleet: Fleet, id: string): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      const last = fleet.status().lastEventId;
      if (last !== null && compare(last, id) >= 0) {
        fleet.off('applied', check);
        fleet.off('warning', check);
        resolve();
      }
    };
    fleet.on('applied', check);
    fleet.on('warning', check);
    check();
  });
}

const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;

function compare(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am! !== bm! ? (am! < bm! ? -1 : 1) : as! === bs! ? 0 : as! < bs! ? -1 : 1;
}

t.test('a revocation published at one member is applied at both', async (t) => {
  const redis = await startRedis(t);
  const a = await member(t, redis.url, 'two');
  const b = await member(t, redis.url, 'two');
  const ta = fakeTarget();
  const tb = fakeTarget();
  a.watch(ta.target);
  b.watch(tb.target);
  const peer = facts([certs.clientCert, certs.intermediate]);
  tb.host.peers.push(peer);
  t.same(tb.host.judge(peer), {});
  const seen: Array<[{ id: string; origin: string }, number]> = [];
  b.on('applied', (entry: { id: string; origin: string }, decisions: number) => seen.push([entry, decisions]));
  const receipt = await a.revokeCertificate({ serial: peer.chain[0]!.serialNumber });
  t.match(receipt, { id: /^\d+-\d+$/, decisions: 0 }, 'nothing to re-decide where it was published');
  t.match(ta.host.judge(peer), { deny: 'certificate-revoked' }, 'applied here when publish resolves');
  await applied(b, receipt.id);
  const [entry, decisions] = seen[0]!;
  t.equal(entry.id, receipt.id);
  t.equal(entry.origin, a.member);
  t.equal(decisions, 1, 'the one peer under the serial was re-decided');
  t.match(tb.host.judge(peer), { deny: 'certificate-revoked' });
  // Keys hold serials in normal form (no leading zeros): the fixture's serial may start with 0.
  const serialKey = `serial:${peer.chain[0]!.serialNumber.replace(/^0+(?=.)/, '')}`;
  t.same(tb.host.rechecks, [{ keys: [serialKey], trigger: 'revocation' }]);
  t.equal(b.status().lastEventId, receipt.id);
  t.equal(b.status().revokedSerials, 1);

  const subject = { format: 'email' as const, email: 'Carol@example.com' };
  const signals = await b.publish({ type: 'signals', subject, signals: { risk: 'high' } });
  await applied(a, signals.id);
  const token = facts([], { token: { email: 'carol@example.com', email_verified: true } });
  t.same(ta.host.judge(token), { signals: { risk: 'high' } });
  t.same(ta.host.rechecks.at(-1), { keys: ['email:carol@example.com'], trigger: 'signals' });
  const invalidated = await a.invalidatePolicy('new policy');
  await applied(b, invalidated.id);
  t.equal(tb.host.invalidations, 1);
  const crl = await a.publishCrl(Buffer.from(certs.crl));
  await applied(b, crl.id);
  t.equal(tb.host.crlSets.at(-1)?.length, 2, 'both CRLs of the bundle shared');
  t.match(tb.host.judge(facts([certs.clientRevokedCert])), { deny: 'certificate-revoked' });
  const revokedSubject = await a.revokeSubject(subject);
  await applied(b, revokedSubject.id);
  t.match(tb.host.judge(token), { deny: 'subject-revoked' });
  t.match(b.status(), { revokedSerials: 1, revokedSubjects: 1, crls: 2, watching: 1, stale: false });
});

t.test('a late joiner holds the current state before createFleet resolves', async (t) => {
  const redis = await startRedis(t);
  const a = await member(t, redis.url, 'late');
  const serials: string[] = [];
  const writes: Array<Promise<unknown>> = [];
  for (let i = 0; i < 1000; i++) {
    const serial = (0x1000 + i).toString(16).toUpperCase();
    serials.push(serial);
    if (i % 100 === 7) writes.push(a.revokeSubject({ format: 'email', email: `u${i}@example.com` }, { before: 5e12 }));
    else
      writes.push(
        a.revokeCertificate({ serial, issuer: i % 2 ? 'CN=continuous-tls test intermediate CA' : undefined }),
      );
  }
  writes.push(a.publishCrl(certs.crl));
  await Promise.all(writes);
  const c = await member(t, redis.url, 'late');
  const { member: _a, lastContactAt: _ta, ...expected } = a.status();
  const { member: _c, lastContactAt: _tc, ...got } = c.status();
  t.same(got, expected, 'same position and counts as the publisher');
  t.equal(got.revokedSerials, 990);
  const { target, host } = fakeTarget();
  c.watch(target);
  t.match(host.judge(facts([certs.clientRevokedCert])), { deny: 'certificate-revoked' }, 'CRL from the snapshot');
  t.equal(host.crlSets.length, 1, 'watch() shares the fleet CRLs at once');
  t.match(host.judge(facts([], { token: { email: 'u107@example.com' } })), { deny: 'subject-revoked' });
  t.same(host.judge(facts([], { token: { email: 'u108@example.com' } })), {});
});

t.test('the feed and its members forget expired revocations, and only those', async (t) => {
  const redis = await startRedis(t);
  const a = await member(t, redis.url, 'expiry');
  const now = Date.now();
  const keep = { format: 'email' as const, email: 'keep@example.com' };
  const later = { format: 'email' as const, email: 'later@example.com' };
  const gone = { format: 'email' as const, email: 'gone@example.com' };
  await a.revokeCertificate({ serial: serialOf(certs.clientCert) });
  await a.revokeCertificate({ serial: serialOf(certs.clientRevokedCert), expiresAt: now + 3_600_000 });
  // Expired longer ago than the feed keeps entries for members whose clocks run behind Redis's.
  const longAgo = now - FEED_EXPIRY_GRACE_MS - 1;
  await a.revokeCertificate({ serial: serialOf(certs.clientWrongCaCert), expiresAt: longAgo });
  await a.revokeSubject(keep);
  await a.publish({ type: 'subject-revoked', subject: later, before: now, expiresAt: now + 3_600_000 });
  await a.publish({ type: 'subject-revoked', subject: gone, before: now, expiresAt: longAgo });
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  t.equal(await raw.hlen('ctls:{expiry}:state:serials'), 2, 'the feed swept the expired serial');
  t.equal(await raw.hlen('ctls:{expiry}:state:subjects'), 2, 'the feed swept the expired subject');
  const c = await member(t, redis.url, 'expiry');
  for (const fleet of [a, c]) {
    t.match(fleet.status(), { revokedSerials: 2, revokedSubjects: 2 });
    const { target, host } = fakeTarget();
    fleet.watch(target);
    t.match(host.judge(facts([certs.clientCert])), { deny: 'certificate-revoked' }, 'no expiresAt');
    t.match(host.judge(facts([certs.clientRevokedCert])), { deny: 'certificate-revoked' }, 'expires later');
    t.same(host.judge(facts([certs.clientWrongCaCert])), {}, 'expired');
    t.match(host.judge(facts([], { token: { email: keep.email } })), { deny: 'subject-revoked' }, 'no expiresAt');
    t.match(host.judge(facts([], { token: { email: later.email } })), { deny: 'subject-revoked' }, 'expires later');
    t.same(host.judge(facts([], { token: { email: gone.email } })), {}, 'expired');
  }
});

t.test('the feed keeps a just-expired revocation for members whose clocks run behind', async (t) => {
  const redis = await startRedis(t);
  const a = await member(t, redis.url, 'grace');
  const now = Date.now();
  await a.revokeCertificate({ serial: 'A1', expiresAt: now - 1 });
  await a.publish({
    type: 'subject-revoked',
    subject: { format: 'email', email: 'x@example.com' },
    before: now,
    expiresAt: now - 1,
  });
  // Later events run the sweep again.
  await a.revokeCertificate({ serial: 'A2' });
  await a.revokeSubject({ format: 'email', email: 'y@example.com' });
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  t.equal(await raw.hlen('ctls:{grace}:state:serials'), 2, 'the serial expired a moment ago is still in the feed');
  t.equal(await raw.hlen('ctls:{grace}:state:subjects'), 2, 'and so is the subject');
});

t.test('entries that are not fleet events are skipped with a warning, never half-applied', async (t) => {
  const redis = await startRedis(t);
  const a = await member(t, redis.url, 'junk');
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  const warnings: Array<{ code: string }> = [];
  a.on('warning', (w: { code: string }) => warnings.push(w));
  await raw.xadd('ctls:{junk}:events', '*', 'hello', 'world');
  // A sequenced entry whose event does not parse (a newer writer, a bug): skipped, the sequence goes on.
  const seq = await raw.hincrby('ctls:{junk}:state:meta', 'seq', 1);
  await raw.xadd('ctls:{junk}:events', '*', 'n', seq, 'e', '{"event":{"type":"certificate-revoked","serial":"zz"}}');
  const good = await a.revokeCertificate({ serial: 'AB' });
  t.equal(good.decisions, 0);
  t.same(
    warnings.map((w) => w.code),
    ['ERR_CTLS_FLEET_BAD_EVENT', 'ERR_CTLS_FLEET_BAD_EVENT'],
  );
  t.equal(a.status().revokedSerials, 1);
  const late = await member(t, redis.url, 'junk');
  t.equal(late.status().revokedSerials, 1, 'a late joiner agrees');
});

t.test('claimOnce: true once across the fleet, then false until it expires', async (t) => {
  const redis = await startRedis(t);
  const a = await member(t, redis.url, 'claims');
  const b = await member(t, redis.url, 'claims');
  t.equal(await a.claimOnce('jti', 'set-1', 200), true);
  t.equal(await b.claimOnce('jti', 'set-1', 200), false);
  t.equal(await a.claimOnce('jti', 'set-1', 200), false);
  t.equal(await b.claimOnce('other', 'set-1', 200), true, 'namespaces are apart');
  await new Promise((resolve) => setTimeout(resolve, 250));
  t.equal(await b.claimOnce('jti', 'set-1', 200), true, 'expired');
  await t.rejects(a.claimOnce('jti', '', 10), { code: 'ERR_CTLS_INVALID_OPTION' });
  await t.rejects(a.claimOnce('jti', 'x', 0), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test('options, watch targets, closing', async (t) => {
  const redis = await startRedis(t);
  await t.rejects(createFleet(undefined as never), { code: 'ERR_CTLS_INVALID_OPTION' });
  await t.rejects(createFleet({ redis: 5 as never }), { code: 'ERR_CTLS_INVALID_OPTION' });
  await t.rejects(createFleet({ redis: redis.url, name: 'a{b}' }), { code: 'ERR_CTLS_INVALID_OPTION' });
  await t.rejects(createFleet({ redis: redis.url, staleness: 'lax' as never }), { code: 'ERR_CTLS_INVALID_OPTION' });
  await t.rejects(createFleet({ redis: redis.url, maxStaleness: -1 }), { code: 'ERR_CTLS_INVALID_OPTION' });
  const started = Date.now();
  await t.rejects(createFleet({ redis: 'redis://127.0.0.1:1', connectTimeout: 300 }), {
    code: 'ERR_CTLS_FLEET_UNAVAILABLE',
  });
  t.ok(Date.now() - started < 2000, 'within connectTimeout');

  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  const fleet = await createFleet({ redis: client });
  t.equal(fleet.name, 'default');
  t.throws(() => fleet.watch({}), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /Server, an Attachment or a RequestAuthorizer/,
  });
  await t.rejects(fleet.publish({ type: 'nope' } as never), { code: 'ERR_CTLS_FLEET_BAD_EVENT' });
  await t.rejects(fleet.revokeSubject({ format: 'email' } as never), { code: 'ERR_CTLS_BAD_SUBJECT' });
  await t.rejects(fleet.revokeSubject({ format: 'opaque', id: 'x' }, null as never), {
    code: 'ERR_CTLS_INVALID_OPTION',
  });
  await t.rejects(fleet.revokeSubject({ format: 'opaque', id: 'x' }, { before: 'soon' as never }), {
    code: 'ERR_CTLS_FLEET_BAD_EVENT',
  });
  await t.rejects(fleet.revokeCertificate(null as never), { code: 'ERR_CTLS_FLEET_BAD_EVENT' });
  await t.rejects(fleet.publishCrl(5 as never), { code: 'ERR_CTLS_BAD_PEM' });
  await t.rejects(fleet.invalidatePolicy(5 as never), { code: 'ERR_CTLS_FLEET_BAD_EVENT' });
  await t.rejects(fleet.publishCrl('junk'), { code: 'ERR_CTLS_BAD_PEM' });
  const { target, host } = fakeTarget();
  fleet.watch(target);
  t.equal(host.guards.size, 1);
  fleet.unwatch(target);
  t.equal(host.guards.size, 0);
  fleet.watch(target);
  await fleet.close();
  t.equal(host.guards.size, 0, 'close() unwatches');
  await t.rejects(fleet.revokeCertificate({ serial: '01' }), { code: 'ERR_CTLS_FLEET_CLOSED' });
  t.throws(() => fleet.watch(target), { code: 'ERR_CTLS_FLEET_CLOSED' });
  t.equal(await client.ping(), 'PONG', "the caller's client stays open");
});

t.test('Redis Cluster: every key of a fleet in one slot, so its scripts run there', async (t) => {
  const redis = await startRedis(t, { cluster: true });
  const client = new Cluster([{ host: '127.0.0.1', port: redis.port }]);
  t.teardown(() => client.disconnect());
  const a = await member(t, client, 'clustered');
  const b = await member(t, client, 'clustered');
  const { target, host } = fakeTarget();
  b.watch(target);
  const receipt = await a.revokeCertificate({ serial: 'AB', issuer: 'CN=x' });
  await applied(b, receipt.id);
  t.equal(b.status().revokedSerials, 1);
  await a.publishCrl(certs.crl);
  const late = await member(t, client, 'clustered');
  t.match(late.status(), { revokedSerials: 1, crls: 2 });
  t.equal(await a.claimOnce('jti', '1', 1000), true);
  t.equal(await b.claimOnce('jti', '1', 1000), false);
  t.match(host.judge(facts([certs.clientRevokedCert])), {});
  t.equal(client.status, 'ready', "the caller's cluster client stays open");
});

t.test('members: each heartbeats, a closed one leaves, one silent for long is forgotten', async (t) => {
  const redis = await startRedis(t);
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  const key = 'ctls:{beats}:members';
  await raw.hset(key, 'ghost', JSON.stringify({ lastSeen: Date.now() - 3_600_000 }), 'junk', '{');
  const a = await member(t, redis.url, 'beats');
  const b = await createFleet({ redis: redis.url, name: 'beats' });
  const deadline = Date.now() + 5000;
  while ((await raw.hlen(key)) !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.same((await raw.hkeys(key)).sort(), [a.member, b.member].sort(), 'the silent and unreadable records are gone');
  t.match(JSON.parse((await raw.hget(key, a.member))!), { pid: process.pid, lastSeen: Number, seq: 0, watching: 0 });
  await b.close();
  t.same(await raw.hkeys(key), [a.member], 'a closed member leaves');
});
