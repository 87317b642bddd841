// Attack: on the owned tier, REST (authorizeRequest, lib/http/peer.ts knownChain) judges the chain
// the socket's handshake built, and keeps it for as long as the exchange's verdict object lives: a
// trust rotation (server.setCa) re-decides the connection under the new store, where the same leaf
// now verifies through another path (the intermediate's key cross-certified by the new root), but
// REST's memo (chains, keyed by leaf and exchange verdict) and PeerChain#verified (which prefers
// handle.getVerifiedChain(), OpenSSL's chain from the handshake under the old store, at every trust
// generation) still name the old intermediate and the old root. A fleet's revocation of the new
// root (or of the new intermediate certificate) refuses the same client on a new connection, but
// its keep-alive connection from before the rotation goes on being served.
//
// The fix: make a trust change void the REST memo (key it on the trust generation too), and in
// PeerChain#verified take OpenSSL's handshake chain only while the trust is at the generation the
// handshake verified under (the exchange verdict's); past it, use the chain the library's own
// verification builds under the trust in force (the engine's verdict.chain).
import t from 'tap';
import http from 'node:http';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { createServer } from '../dist/index.js';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { crossSignedPki } from './helpers/cross-signed-pki';
import { listen, waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

t.test('REST on the owned tier judges a keep-alive connection by the trust in force after a rotation', async (t) => {
  const pki = crossSignedPki(t, 'attack5');
  for (const [name, serial] of [
    ['new root', new X509Certificate(pki.newRoot).serialNumber],
    ['new intermediate', new X509Certificate(pki.newIntermediate).serialNumber],
  ] as const) {
    await t.test(`a revoked ${name}`, async (t) => {
      const guard = new SerialGuard();
      const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
      (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
      const app = http.createServer(authz.node((_req, res) => res.end('ok')));
      const server = createServer(
        {
          key: certs.serverKey,
          cert: certs.serverChain,
          ca: pki.oldTrust,
          requestCert: true,
          rejectUnauthorized: true,
        },
        (socket) => app.emit('connection', socket),
      );
      t.teardown(() => app.closeAllConnections());
      const port = await listen(t, server);
      const open = async () => {
        const client = tls.connect({
          host: '127.0.0.1',
          port,
          servername: 'localhost',
          ca: certs.ca,
          key: pki.leafKey,
          cert: pki.leaf,
        });
        client.on('error', () => {});
        t.teardown(() => client.destroy());
        await waitFor(client, 'secureConnect', SOON);
        const get = rawHttp(client);
        const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
        return async (): Promise<number | 'closed'> =>
          Promise.race([
            get('GET', '/').then(
              (reply) => reply.status,
              () => 'closed' as const,
            ),
            closed,
          ]);
      };
      const before = await open();
      t.equal(await before(), 200, 'served under the old trust');

      const decisions = await server.setCa(pki.newTrust);
      t.ok(
        decisions.every((d) => d.allow),
        'the rotation keeps the connection: the leaf verifies under the new trust',
      );
      t.equal(await before(), 200, 'and it is served under the new trust');

      guard.revoke(serial);
      const fresh = await open();
      t.not(await fresh(), 200, 'a new connection of the same client is refused');
      t.not(await before(), 200, 'the connection from before the rotation is refused too');
    });
  }
});
