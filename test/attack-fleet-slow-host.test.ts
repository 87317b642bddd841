/**
 * Attack: a member applies feed entries one at a time and waits, for each, until every watched host
 * has re-decided what the entry affects, policy calls included. One slow re-decision (a slow PDP,
 * up to its policyTimeout, 200 ms by default) holds back every later entry: a revocation published
 * behind a burst of signals events is not applied, not even to the guard, for seconds; a flood of such
 * events delays it without bound.
 */
import t from 'tap';
import { createFleet } from '../dist/index.js';
import type { Decision } from '../dist/common/types.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { certs } from './helpers/certs';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('a slow re-decision does not hold back later revocations', { timeout: 20_000 }, async (t) => {
  const redis = await startRedis(t);
  const a = await createFleet({ redis: redis.url, name: 'slow' });
  t.teardown(() => a.close());
  const b = await createFleet({ redis: redis.url, name: 'slow' });
  t.teardown(() => b.close());
  const { target, host } = fakeTarget();
  // The re-decisions of a signals change wait for a policy that answers at the default policyTimeout.
  const recheck = host.recheckKeys.bind(host);
  host.recheckKeys = async (keys, trigger) => {
    if (trigger === 'signals') await new Promise((resolve) => setTimeout(resolve, 200));
    return recheck(keys, trigger) as Promise<Decision[]>;
  };
  a.watch(target);
  const peer = facts([certs.clientCert, certs.intermediate]);

  // A burst of 20 signals events (an identity provider's token-claims-change SETs) ahead of the revocation.
  for (let i = 0; i < 20; i++)
    void b.publish({ type: 'signals', subject: { format: 'email', email: 'slow@example.com' }, signals: { i } });
  const published = Date.now();
  await b.revokeCertificate({ serial: peer.chain[0]!.serialNumber });
  while (host.judge(peer).deny === undefined && Date.now() - published < 10_000)
    await new Promise((resolve) => setTimeout(resolve, 10));
  const lag = Date.now() - published;
  t.ok(lag < 1_000, `the revocation reaches the guard of member a promptly (took ${lag} ms)`);
});
