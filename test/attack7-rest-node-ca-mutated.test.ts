// Attack: REST on node:https (lib/http/peer.ts anchorsOf) remembers a server's anchors per `ca`
// object in a WeakMap and never looks at that object again. node reads the `ca` array afresh at every
// setSecureContext(); the library does not. An operator retiring a root edits the array in place
// (splice it out) and calls server.setSecureContext() with it: node's store drops the old root, the
// library's anchor set keeps it. A client then pads its Certificate message with the intermediate
// key certified by the retired root and that root: OpenSSL verifies through the store (the new
// intermediate and root), node shows [leaf, old intermediate, old root], and the stale anchor set
// takes the retired root as the server's. REST judges that chain, so a fleet's revocation of the
// new intermediate or root does not reach the padded client (the leaf alone is refused).
//
// The fix: key the anchors by the CA contents, not by the array's identity (fingerprint the PEM/DER
// items each time the context changes: hook setSecureContext, or key on the node SecureContext the
// handle carries, which a setSecureContext() replaces), or better, judge the chain OpenSSL verified
// (SSL_get0_verified_chain) instead of node's display.
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

t.test('REST on node:https forgets a root the server retired by editing its ca array', async (t) => {
  const pki = crossSignedPki(t, 'attack7');
  for (const [name, serial] of [
    ['new root', new X509Certificate(pki.newRoot).serialNumber],
    ['new intermediate', new X509Certificate(pki.newIntermediate).serialNumber],
  ] as const) {
    await t.test(`a revoked ${name}`, async (t) => {
      const guard = new SerialGuard();
      // Mid-migration: both roots are trusted, the new intermediate is in the store.
      const ca = [pki.oldRoot, pki.newRoot, pki.newIntermediate];
      const server = await serve(t, guard, ca);
      const port = (server.address() as AddressInfo).port;
      const padded = pki.leaf + pki.oldIntermediate + pki.oldRoot;
      t.equal(await request(t, port, pki.leafKey, padded), 200, 'the padded client is served during the migration');
      // The migration ends: the old root goes, edited out of the same array.
      ca.splice(0, 1);
      server.setSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca });
      t.equal(await request(t, port, pki.leafKey, pki.leaf), 200, 'the leaf alone is served after it');
      guard.revoke(serial);
      const plain = await request(t, port, pki.leafKey, pki.leaf);
      t.not(plain, 200, `after the revocation the leaf alone is refused (${plain})`);
      const after = await request(t, port, pki.leafKey, padded);
      t.not(after, 200, `and so is the client padding with the retired root's pair (${after})`);
    });
  }
});
