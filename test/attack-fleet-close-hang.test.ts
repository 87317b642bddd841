/**
 * Attack: called while the link to Redis is down (a partition, Redis restarting), fleet.close() does
 * not resolve, not even once the link is back: it waits for a reader loop that never ends. A process
 * that awaits close() on shutdown (SIGTERM in a pod during a Redis outage) hangs until it is killed.
 */
import t from 'tap';
import { createFleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('close() resolves while the feed is unreachable', { timeout: 20_000 }, async (t) => {
  const redis = await startRedis(t);
  const proxy = await redis.proxy();
  const member = await createFleet({ redis: proxy.url, name: 'close', maxStaleness: 300 });
  member.on('warning', () => {});
  proxy.cut();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  let closed = false;
  const closing = member.close().then(() => (closed = true));
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  t.equal(closed, true, 'close() resolved within 3 s');
  proxy.restore();
  await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  t.comment(`close() resolved once the link came back: ${closed}`);
});
