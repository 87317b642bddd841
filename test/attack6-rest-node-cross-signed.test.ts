// Attack: REST on node:https (authorizeRequest, lib/http/peer.ts knownChain -> shownChain) still
// judges node's display chain whenever it ends in a self-signed certificate whose links verify by
// signature. An intermediate key certified by two roots (cross-signing, as in a root migration)
// gives two real certificates of the same name and key. The server trusts the new root and the
// intermediate it certified; a client presents its leaf plus the intermediate certified by the old
// root and the old (self-signed, no longer trusted) root itself. OpenSSL verifies the leaf through
// the store (trusted first: the new intermediate, the new root), but node shows [leaf, old
// intermediate, old root]: every link is signed by the next, it ends self-signed, so REST takes it
// as the chain (and remembers it as the leaf's verified chain for the trust). A fleet's revocation
// of the new root or of the new intermediate then refuses the client that presents its leaf alone,
// while the same client padding its Certificate message with the old pair is still served.
//
// The fix: on node:https take a display chain only when its top is a trust anchor of the server's
// store (the same certificate, by DER, among the CAs the socket's context trusts), else verify the
// leaf with the library's own verifier (a SecureContext built from the server's ca, as the attached
// tier does) and judge the chain it builds; never remember a chain whose anchor the store lacks.
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

async function serve(t: Test, guard: SerialGuard, ca: string): Promise<number> {
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
  return (server.address() as AddressInfo).port;
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

t.test('REST on node:https judges the chain the store verified, not a cross-signed one the client shows', async (t) => {
  const pki = crossSignedPki(t, 'attack6');
  for (const [name, serial] of [
    ['new root', new X509Certificate(pki.newRoot).serialNumber],
    ['new intermediate', new X509Certificate(pki.newIntermediate).serialNumber],
  ] as const) {
    await t.test(`a revoked ${name}`, async (t) => {
      const guard = new SerialGuard();
      const port = await serve(t, guard, pki.newTrust);
      const padded = pki.leaf + pki.oldIntermediate + pki.oldRoot;
      t.equal(await request(t, port, pki.leafKey, pki.leaf), 200, 'the leaf alone is served before the revocation');
      t.equal(await request(t, port, pki.leafKey, padded), 200, 'so is the padded client');
      guard.revoke(serial);
      const plain = await request(t, port, pki.leafKey, pki.leaf);
      t.not(plain, 200, `after it the leaf alone is refused (${plain})`);
      const after = await request(t, port, pki.leafKey, padded);
      t.not(after, 200, `and so is the client padding with the old cross-signed pair (${after})`);
    });
  }
});
