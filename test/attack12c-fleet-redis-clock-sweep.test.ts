// Attack: since the fix for expired revocations, the feed's publish script deletes a revocation
// once its expiresAt is behind Redis's own clock (`redis.call('TIME')`), while each process judges
// peers, and prunes its own copy, by its own clock. The two clocks are never compared. On a process
// whose clock runs behind the Redis host's (skew between hosts, a VM resumed, a container on a host
// with a drifting clock), a revocation that is still in force by that process's clock (the peer's
// certificate is still valid by it too: expiresAt is its notAfter) is already gone from the
// snapshot. A process that joins (or restarts) then loads a state without it and serves the revoked
// peer, while a process of the same fleet that was there all along, on the same clock, still denies
// it: the snapshot is no longer what the stream says on the clock the members judge by.
//
// Here the test process's clock runs 60 s behind Redis's. A revocation expiring 30 s from now (by
// the process's clock) is published: the member that published it still denies the certificate,
// and a member that joins a moment later, on the very same clock, accepts it.
//
// A correct library never lets the feed drop a revocation that a member may still hold in force:
// the feed sweeps only what has expired by a margin beyond any tolerated skew (or by the member's
// clock, or not at all in the snapshot), so a late joiner holds every revocation an older member
// holds, and nothing a member's own clock still enforces is lost.
//
// Attack class: fail-open (state dropped by one component's judgment that another still relies on;
// two clocks, one decision).
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { createFleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { certs } from './helpers/certs';

if (!haveRedis) t.plan(0, 'no redis-server');

const SKEW_MS = 60_000;

t.test('a late joiner on a clock behind Redis holds the revocations an older member holds', async (t) => {
  const redis = await startRedis(t);
  const realNow = Date.now;
  // This process's clock is SKEW_MS behind the Redis host's.
  Date.now = () => realNow() - SKEW_MS;
  t.teardown(() => {
    Date.now = realNow;
  });
  const name = 'skewed-clock';
  const a = await createFleet({ redis: redis.url, name });
  t.teardown(() => a.close());
  const serial = new X509Certificate(certs.clientCert).serialNumber;
  // Revoked until its notAfter, 30 s from now by this process's clock: in force here for 30 s more.
  await a.revokeCertificate({ serial, expiresAt: Date.now() + 30_000 });

  const early = fakeTarget();
  a.watch(early.target);
  t.match(early.host.judge(facts([certs.clientCert])), { deny: 'certificate-revoked' }, 'the publisher denies it');

  const c = await createFleet({ redis: redis.url, name });
  t.teardown(() => c.close());
  const late = fakeTarget();
  c.watch(late.target);
  t.match(
    late.host.judge(facts([certs.clientCert])),
    { deny: 'certificate-revoked' },
    'a process joining on the same clock denies it too',
  );
  t.equal(c.status().revokedSerials, a.status().revokedSerials, 'both hold the same revocations');
});
