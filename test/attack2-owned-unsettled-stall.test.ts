/**
 * Attack: on the owned (and attached) tier a pending decision is made again, with no bound, as long
 * as the guards' generation moves while its policy decides (authorizer #decideLater's for(;;)),
 * holding the connection's data meanwhile. Every fleet entry moves that generation, whoever it
 * names: a steady trickle of signals events about one subject (mallory toggling her own device at
 * the identity provider) keeps every other peer's decision from ever concluding while the policy
 * takes longer than the gap between entries: new peers are never admitted, on every process.
 */
import t from 'tap';
import { once } from 'node:events';
import { connect, createFleet, type TLSSocket } from '../dist/index.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { haveRedis, startRedis } from './helpers/redis';
import { mtlsOptions, startServer } from './helpers/mtls';
import { closed, waitFor } from './helpers/owned';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test("signals about one subject do not stall another peer's admission", { timeout: 30_000 }, async (t) => {
  const redis = await startRedis(t);
  const ca = await DevelopmentCA.create();
  const [server, client] = await Promise.all([
    ca.issueServer({ commonName: 'localhost' }),
    ca.issueClient({ commonName: 'alice', altNames: ['alice@example.com'] }),
  ]);
  const pki = { ca, server, client };
  const slow = {
    policy: async () => {
      await new Promise((resolve) => setTimeout(resolve, 80)); // a remote PDP
      return { allow: true, reason: 'ok' };
    },
  };
  const { server: tlsServer, port } = await startServer(t, mtlsOptions(pki, slow));
  tlsServer.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  const fleet = await createFleet({ redis: redis.url, name: 'stall' });
  t.teardown(() => fleet.close());
  fleet.watch(tlsServer);

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

  const alice: TLSSocket = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: ca.rootCert,
    key: client.key,
    cert: client.chain,
  });
  alice.on('error', () => {});
  t.teardown(() => alice.destroy());
  const outcome = await Promise.race([
    (async () => {
      await waitFor(alice, 'secureConnect');
      alice.write('ping');
      return Promise.race([once(alice, 'data').then(() => 'admitted'), closed(alice).then(() => 'refused')]);
    })(),
    new Promise<string>((resolve) => setTimeout(() => resolve('stalled for 5 s'), 5_000)),
  ]);
  flooding = false;
  await flood.catch(() => undefined);
  t.equal(outcome, 'admitted', 'alice is admitted while mallory floods signals');
});
