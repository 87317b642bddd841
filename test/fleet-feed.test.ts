/**
 * Two members of one fleet on a real Redis: an event published at one is applied at both, in order,
 * and a publish resolves once its entry is applied where it was published.
 */
import t from 'tap';
import { createFleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { certs } from './helpers/certs';

t.test(
  'a revocation published at one member is applied at both',
  { skip: !haveRedis && 'no redis-server' },
  async (t) => {
    const redis = await startRedis(t);
    const a = await createFleet({ redis: redis.url, name: 'smoke' });
    t.teardown(() => a.close());
    const b = await createFleet({ redis: redis.url, name: 'smoke' });
    t.teardown(() => b.close());
    const ta = fakeTarget();
    const tb = fakeTarget();
    a.watch(ta.target);
    b.watch(tb.target);
    const peer = facts([certs.clientCert, certs.intermediate]);
    t.same(tb.host.judge(peer), {});
    const appliedAtB = new Promise((resolve) => b.once('applied', resolve));
    const receipt = await a.revokeCertificate({ serial: peer.chain[0]!.serialNumber });
    t.match(receipt, { id: /^\d+-\d+$/, decisions: 0 });
    t.match(ta.host.judge(peer), { deny: 'certificate-revoked' });
    await appliedAtB;
    t.match(tb.host.judge(peer), { deny: 'certificate-revoked' });
    t.same(tb.host.rechecks, [
      { keys: [`serial:${peer.chain[0]!.serialNumber.replace(/^0+/, '')}`], trigger: 'revocation' },
    ]);
    t.equal(a.status().revokedSerials, 1);
    t.equal(b.status().lastEventId, receipt.id);
  },
);
