/**
 * A feed that lost its data (FLUSHALL here, under links that stay up, on an idle feed) does not make
 * a member forget: each member notices within a read, writes its state back, warns
 * ERR_CTLS_FLEET_RECREATED, and a process that joins afterwards loads the revocations again.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { createFleet, type Fleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { certs } from './helpers/certs';

if (!haveRedis) t.plan(0, 'no redis-server');

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('members write their state back to a feed emptied under them', { timeout: 30_000 }, async (t) => {
  const redis = await startRedis(t);
  const join = async (): Promise<{ fleet: Fleet; codes: string[] }> => {
    const fleet = await createFleet({ redis: redis.url, name: 'flushed', maxStaleness: 3_000 });
    t.teardown(() => fleet.close());
    const codes: string[] = [];
    fleet.on('warning', (warning: { code?: string }) => codes.push(String(warning.code)));
    return { fleet, codes };
  };
  const a = await join();
  const b = await join();
  const peer = facts([certs.clientCert, certs.intermediate]);
  const receipt = await a.fleet.revokeCertificate({ serial: peer.chain[0]!.serialNumber });
  await b.fleet.revokeSubject({ format: 'email', email: 'mallory@example.com' }, { before: Date.now() });
  await until('a has both', () => a.fleet.status().revokedSubjects === 1);
  t.ok(receipt.id);

  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  await raw.flushall();
  await until('both members wrote back', () => [a, b].every((m) => m.codes.includes('ERR_CTLS_FLEET_RECREATED')));
  const { target, host } = fakeTarget();
  a.fleet.watch(target);
  t.match(host.judge(peer), { deny: 'certificate-revoked' }, 'a still denies the revoked certificate');
  t.equal(a.fleet.status().stale, false, 'a is fresh');

  // A process that joins after the loss loads what the members wrote back.
  const c = await join();
  t.equal(c.fleet.status().revokedSerials, 1);
  t.equal(c.fleet.status().revokedSubjects, 1);
  const late = fakeTarget();
  c.fleet.watch(late.target);
  t.match(late.host.judge(peer), { deny: 'certificate-revoked' }, 'the late joiner denies it too');
});
