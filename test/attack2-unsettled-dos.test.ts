/**
 * Attack: a request decision is made again whenever the guards' generation moved while its policy
 * ran, and denied ('trust-unsettled') after four rounds. The generation is global: every fleet
 * entry bumps it, whoever it names. A steady trickle of signals events about one subject (a user
 * toggling their own device or profile at the identity provider makes the CAEP events) therefore
 * denies every other user's requests whose policy takes longer than the gap between two entries,
 * on every process of the fleet: one subject's events cut everyone's service.
 */
import t from 'tap';
import * as https from 'node:https';
import { createFleet } from '../dist/index.js';
import { authorizeRequest } from '../dist/http/index.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { haveRedis, startRedis } from './helpers/redis';
import { listen } from './helpers/owned';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test("signals about one subject do not deny another subject's requests", { timeout: 30_000 }, async (t) => {
  const redis = await startRedis(t);
  const fleet = await createFleet({ redis: redis.url, name: 'unsettled' });
  t.teardown(() => fleet.close());
  const ca = await DevelopmentCA.create();
  const server = await ca.issueServer({ commonName: 'localhost' });
  const alice = await ca.issueClient({ commonName: 'alice', altNames: ['alice@example.com'] });
  const authorizer = authorizeRequest({
    cache: false,
    policy: async () => {
      await new Promise((resolve) => setTimeout(resolve, 80)); // a remote PDP
      return { allow: true, reason: 'ok' };
    },
  });
  fleet.watch(authorizer);
  const server1 = https.createServer(
    { key: server.key, cert: server.chain, ca: ca.rootCert, requestCert: true, rejectUnauthorized: true },
    authorizer.node((_req, res) => res.end('ok')),
  );
  const port = await listen(t, server1);

  let flooding = true;
  const flood = (async () => {
    for (let i = 0; flooding; i++) {
      await fleet.publish({
        type: 'signals',
        subject: { format: 'email', email: 'mallory@example.com' },
        signals: { claims: { toggle: i % 2 } },
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  t.teardown(async () => {
    flooding = false;
    await flood.catch(() => undefined);
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const status = await new Promise<number>((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: ca.rootCert,
        key: alice.key,
        cert: alice.chain,
        agent: false,
        path: '/',
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
  flooding = false;
  await flood.catch(() => undefined);
  t.equal(status, 200, "alice's request is allowed while mallory's signals change");
});
