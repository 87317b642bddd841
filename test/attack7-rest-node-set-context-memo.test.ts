// Attack: REST on node:https (lib/http/peer.ts knownChain) keeps the chain it took for a
// keep-alive connection for as long as the connection shows the same leaf: the memo has no notion
// of the server's CAs changing. During a root migration the server trusts both roots; a client
// pads its Certificate message with the intermediate key certified by the old root and that root.
// OpenSSL verifies through the store (the new intermediate, the new root), node shows [leaf, old
// intermediate, old root], and since the old root is among the server's CAs, REST takes that chain.
// The operator then retires the old root with server.setSecureContext() (a fresh ca array). New
// connections are judged afresh, but the keep-alive connection keeps the chain ending in the
// retired root: a fleet's revocation of the new root or intermediate (the path verification
// actually stood on, and the only one the server still trusts) does not reach it.
//
// (Both the per-socket memo and the chain remembered under the connection's old node context,
// recallVerifiedChain, answer with the retired root once the live anchor check says no.)
//
// The fix: key the memo and the remembered chains on the server's trust as well (the ca value, or
// the node SecureContext setSecureContext() installs) and judge the connection again when it
// changes; better, judge the chain OpenSSL verified for the connection rather than node's display,
// so no retired root can stand in for the anchor at all.
import t, { type Test } from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { crossSignedPki } from './helpers/cross-signed-pki';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

async function serve(t: Test, guard: SerialGuard, ca: string[]): Promise<https.Server> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  const server = https.createServer(
    { key: certs.serverKey, cert: certs.serverChain, ca, requestCert: true, rejectUnauthorized: true },
    authz.node((_req, res) => res.end('ok')),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return server;
}

/** A connection presenting `cert`, and a function sending GET / over it: the status, or 'closed'. */
async function open(t: Test, port: number, key: string, cert: string): Promise<() => Promise<number | 'closed'>> {
  const client = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca, key, cert });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect', SOON);
  const get = rawHttp(client);
  const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
  return () =>
    Promise.race([
      get('GET', '/').then(
        (reply) => reply.status,
        () => 'closed' as const,
      ),
      closed,
    ]);
}

/** GET / over a new connection presenting `cert`: the status, or 'closed'. */
async function request(t: Test, port: number, key: string, cert: string): Promise<number | 'closed'> {
  const client = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca, key, cert });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect', SOON);
  const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
  return Promise.race([
    rawHttp(client)('GET', '/').then(
      (reply) => reply.status,
      () => 'closed' as const,
    ),
    closed,
  ]);
}

t.test('REST on node:https judges a keep-alive connection by the CAs in force after setSecureContext', async (t) => {
  const pki = crossSignedPki(t, 'attack7');
  for (const [name, serial] of [
    ['new root', new X509Certificate(pki.newRoot).serialNumber],
    ['new intermediate', new X509Certificate(pki.newIntermediate).serialNumber],
  ] as const) {
    await t.test(`a revoked ${name}`, async (t) => {
      const guard = new SerialGuard();
      // Mid-migration: both roots are trusted, the new intermediate is in the store.
      const server = await serve(t, guard, [pki.oldRoot, pki.newRoot, pki.newIntermediate]);
      const port = (server.address() as AddressInfo).port;
      const padded = pki.leaf + pki.oldIntermediate + pki.oldRoot;
      const before = await open(t, port, pki.leafKey, padded);
      t.equal(await before(), 200, 'the padded client is served during the migration');
      // The migration ends: the old root goes.
      server.setSecureContext({
        key: certs.serverKey,
        cert: certs.serverChain,
        ca: [pki.newRoot, pki.newIntermediate],
      });
      t.equal(await request(t, port, pki.leafKey, pki.leaf), 200, 'the leaf alone is served after it');
      t.equal(await before(), 200, 'and so is the keep-alive padded connection');
      guard.revoke(serial);
      const plain = await request(t, port, pki.leafKey, pki.leaf);
      t.not(plain, 200, `after the revocation the leaf alone is refused (${plain})`);
      const after = await before();
      t.not(after, 200, `and so is the keep-alive connection from before the change (${after})`);
    });
  }
});
