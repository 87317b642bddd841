/**
 * Attack: staleness is measured on the wall clock (Date.now() - lastContactAt). When the system clock
 * steps back (an NTP correction, a VM restored from a snapshot) the difference is negative for as long
 * as the step, and a strict member cut off from the feed keeps deciding on old state, admitting what the
 * rest of the fleet has revoked since, without ever turning stale.
 */
import t from 'tap';
import { createFleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test(
  'a strict member cut off from the feed turns stale whatever the wall clock does',
  { timeout: 20_000 },
  async (t) => {
    const redis = await startRedis(t);
    const proxy = await redis.proxy();
    const member = await createFleet({ redis: proxy.url, name: 'clock', maxStaleness: 300, staleness: 'strict' });
    member.on('warning', () => {});
    const realNow = Date.now;
    t.teardown(async () => {
      Date.now = realNow;
      // Bounded: close() after a cut link does not resolve (see attack-fleet-close-hang).
      await Promise.race([member.close(), new Promise((resolve) => setTimeout(resolve, 1_000))]);
    });
    let stale = false;
    member.on('stale', () => (stale = true));

    Date.now = () => realNow() - 60 * 60_000; // the system clock steps back one hour
    proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    t.equal(stale, true, 'stale after five times maxStaleness without the feed');
    t.equal(member.status().stale, true);
    Date.now = realNow;
  },
);
