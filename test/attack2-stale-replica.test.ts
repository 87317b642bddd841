/**
 * Attack: a member notices a feed that lost its data only when the feed's sequence went back or its
 * epoch changed. A failover to a replica that had not received the latest writes keeps the epoch
 * (it is replicated with the rest of state:meta), and on a busy feed the new primary's sequence
 * passes the member's before the member looks. The member then takes the lost revocation for a
 * plain gap (entries trimmed): it keeps it in its own state but never writes it back, warns nothing,
 * and every process that joins later (or reloads) admits the certificate revoked on the lost write.
 * Simulated here: the keys are put back as they were before the last publish (DUMP/RESTORE, as
 * the stale replica has them) and two entries from other publishers land, in one MULTI.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { createFleet, type Fleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { certs } from './helpers/certs';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('a revocation lost in a failover to a stale replica is written back', { timeout: 30_000 }, async (t) => {
  const redis = await startRedis(t);
  const name = 'replica';
  const codes: string[] = [];
  const join = async (): Promise<Fleet> => {
    const fleet = await createFleet({ redis: redis.url, name, maxStaleness: 3_000 });
    t.teardown(() => fleet.close());
    fleet.on('warning', (warning: { code?: string }) => codes.push(String(warning.code)));
    return fleet;
  };
  const member = await join();
  await member.invalidatePolicy('first entry');
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  const keys = ['events', 'state:meta', 'state:serials', 'state:subjects', 'state:signals', 'state:crls'].map(
    (key) => `ctls:{${name}}:${key}`,
  );
  // What the replica holds: everything up to here.
  const dumps = await Promise.all(keys.map((key) => raw.dumpBuffer(key)));
  // The write the replica never received: a revocation, applied by the member.
  const peer = facts([certs.clientCert, certs.intermediate]);
  await member.revokeCertificate({ serial: peer.chain[0]!.serialNumber });
  const { target, host } = fakeTarget();
  member.watch(target);
  t.match(host.judge(peer), { deny: 'certificate-revoked' }, 'the member denies it');

  // Failover: the replica's data, then two entries other publishers wrote to the new primary.
  const base = Date.now() + 1000;
  const multi = raw.multi();
  for (const key of keys) multi.del(key);
  keys.forEach((key, i) => {
    if (dumps[i] !== null) multi.restore(key, 0, dumps[i]!);
  });
  for (const [i, n] of [2, 3].entries()) {
    const entry = JSON.stringify({ at: Date.now(), origin: 'other', event: { type: 'policy-invalidated' } });
    multi.xadd(keys[0]!, `${base + i}-0`, 'n', String(n), 'e', entry);
  }
  multi.hset(keys[1]!, 'seq', '3', 'lastId', `${base + 1}-0`);
  await multi.exec();
  await new Promise((resolve) => setTimeout(resolve, 1_500));

  const late = await join();
  const joined = fakeTarget();
  late.watch(joined.target);
  t.ok(codes.includes('ERR_CTLS_FLEET_RECREATED'), `the member warned that the feed lost entries (${codes})`);
  t.match(joined.host.judge(peer), { deny: 'certificate-revoked' }, 'a process joining after the failover denies it');
});
