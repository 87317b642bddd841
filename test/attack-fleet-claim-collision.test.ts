/**
 * Attack: claimOnce(namespace, id) keys are `once:<namespace>:<id>`: a namespace holding ':' spells
 * another namespace's key, so a claim in one namespace consumes an unrelated claim in another.
 */
import t from 'tap';
import { createFleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('claims in different namespaces never collide', { timeout: 20_000 }, async (t) => {
  const redis = await startRedis(t);
  const fleet = await createFleet({ redis: redis.url, name: 'claims' });
  t.teardown(() => fleet.close());
  t.equal(await fleet.claimOnce('app:tenant', 'x', 60_000), true);
  t.equal(await fleet.claimOnce('app', 'tenant:x', 60_000), true, 'another namespace and id: a first claim');
});
