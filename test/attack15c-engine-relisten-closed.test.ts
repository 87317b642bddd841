/**
 * Attack: a server closed and listened again (net.Server allows listen() after close(), as an app
 * that stops and restarts accepting does). The server's 'close' closes its engine for good
 * (Authorizer.close(): no trust subscription, trustChanged() sweeps nothing), but the server keeps
 * handing the engine the connections it accepts on its new listener: each is admitted and tracked,
 * yet server.setCrl() with its certificate revoked re-decides nothing, and the revoked peer keeps
 * its connection and passes data for good. Before the close() fix the engine still followed the
 * server's trust, so this is a regression of it.
 *
 * A correct library re-decides every connection it admits when the trust it was served with changes:
 * either a server whose engine was closed refuses to accept (or to admit) more connections, or
 * listening again brings a live engine back.
 *
 * Attack class: stale verdict (a CRL change never reaches a live connection), other ways in.
 */
import t from 'tap';
import { connectPair, makePki, mtlsOptions, delay } from './helpers/mtls';
import { createServer } from '../dist/index.js';
import type * as net from 'node:net';

t.test('a connection accepted after close() + listen() is cut when its certificate is revoked', async (t) => {
  const pki = await makePki();
  const server = createServer(mtlsOptions(pki));
  const listenOnce = () =>
    new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
    );
  await listenOnce();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const port = await listenOnce();
  t.teardown(() => {
    for (const socket of server.connections()) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { socket } = await connectPair(t, server, port, pki);
  t.equal(socket.destroyed, false, 'admitted');
  pki.ca.revoke(pki.client.serial);
  await server.setCrl(await pki.ca.crls());
  await delay(100);
  t.equal(socket.destroyed, true, 'the revoked peer is cut');
});
