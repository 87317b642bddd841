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
import { connect, createServer } from '../dist/index.js';
import type * as net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

// The same for a watched CRL file: close() stops the watch, and listening again must start it (and
// read the file, which may have changed meanwhile), or the new connections' revocations never land.
t.test('a watched CRL file still reaches connections accepted after close() + listen()', async (t) => {
  const pki = await makePki();
  const dir = mkdtempSync(join(tmpdir(), 'ctls-relisten-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'crl.pem');
  writeFileSync(file, await pki.ca.crls());
  const server = createServer(mtlsOptions(pki, { crl: { file, watch: true, interval: 20 } }));
  const listenOnce = () =>
    new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
    );
  await listenOnce();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // Revoked while the server was closed: nothing watched the file then.
  pki.ca.revoke(pki.client.serial);
  writeFileSync(file, await pki.ca.crls());
  const port = await listenOnce();
  t.teardown(() => {
    for (const socket of server.connections()) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const client = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const outcome = await Promise.race([
    new Promise<string>((resolve) => server.once('secureConnection', () => resolve('admitted'))),
    new Promise<string>((resolve) => client.once('close', () => resolve('refused'))),
  ]);
  t.equal(outcome, 'refused', 'the peer revoked while the server was closed is refused');
});
