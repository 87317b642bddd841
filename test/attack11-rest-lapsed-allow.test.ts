// Attack (stale verdict): a policy answer that allows but has already lapsed when it arrives (an
// `expiresAt` in the past: a decision point that hands back an answer it made earlier, a clock
// behind the policy's) is, by the library's own rule, a denial: the connection tiers turn it into
// `decision-expired`, and a cached REST answer past its expiry is refused the same way. But
// authorizeRequest checks only the credentials' expiry and a cache hit's: an allow that comes
// straight from the policy already expired is served, and the handler runs on a verdict the policy
// said no longer holds.
//
// A correct library treats an allow whose own expiry has passed at the time of the decision as a
// denial on every tier, whether it came from the engine or the cache.
import t from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { client, startHttps } from './helpers/policy-https';

const served = (_req: IncomingMessage, res: ServerResponse) => res.end('served');

t.test('an allow that lapsed before it arrived does not admit a request', async (t) => {
  const authz = authorizeRequest({
    policy: () => ({ allow: true, reason: 'granted a minute ago', expiresAt: Date.now() - 60_000 }),
    cache: false,
  });
  const get = client(t, await startHttps(t, authz.node(served)), 'alice');
  const reply = await get('GET', '/orders');
  t.equal(reply.status, 403, 'the lapsed allow is a denial');
  t.not(reply.body, 'served', 'the handler did not run');
});
