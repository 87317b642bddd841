/**
 * Attack: fleet.watch() of a server whose connections are already live. The fleet already holds a
 * revocation of a live peer's certificate; watch() adds the guard but re-decides nothing, so the
 * revoked peer keeps passing data until its next scheduled check (never, by default).
 */
import t from 'tap';
import { createFleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { connectPair, delay, makePki, mtlsOptions, startServer } from './helpers/mtls';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('watch() re-decides live connections against the fleet state', { timeout: 20_000 }, async (t) => {
  const redis = await startRedis(t);
  const fleet = await createFleet({ redis: redis.url, name: 'late-watch' });
  t.teardown(() => fleet.close());
  const pki = await makePki('alice');
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy: () => ({ allow: true, reason: 'ok' }) }));
  const alice = await connectPair(t, server, port, pki, pki.client);
  alice.socket.on('error', () => {});

  await fleet.revokeCertificate({ serial: alice.socket.getPeerX509Certificate()!.serialNumber });
  fleet.watch(server);
  await delay(1000);
  t.equal(alice.socket.destroyed, true, 'the revoked live connection is cut once the fleet watches the server');
});
