// Attack: node:tls takes a context's `ca` items as strings or any ArrayBufferView (Buffer, a plain
// Uint8Array, a DataView: validateKeyOrCertOption), but the library reads only strings and Buffers
// (lib/http/node-context-cas.ts caText, lib/http/peer.ts serverTrust). A server or SNI context
// given its CAs as a Uint8Array (as read by fetch(), Web Crypto or a secrets client) is therefore
// "unknown": REST warns ERR_CTLS_CLIENT_CAS_UNKNOWN and judges the chain node shows, which the
// client pads with the cross-signed old intermediate and old root, although the app followed the
// documented advice (a `ca` option, the library loaded first). A fleet's revocation of the new root
// or intermediate then misses the padded client. On an addContext() context the leaf alone
// is let through too: its chain is incomplete in what node shows (node completes it from the
// default context's store), so the chain remembered for the padded client's full handshake under
// that native context answers for it.
//
// The fix: read every ArrayBufferView item as node does (Buffer.from(view.buffer, view.byteOffset,
// view.byteLength)), in both caText and serverTrust.
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

/** Where the CAs go: the server's own `ca`, or the `ca` of the context addContext() makes. */
type Where = 'server' | 'addContext';

async function serve(t: Test, guard: SerialGuard, ca: Uint8Array | DataView, where: Where): Promise<number> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const server = https.createServer(
    {
      ...identity,
      // node's types say string or Buffer; node itself takes any ArrayBufferView.
      ca: where === 'server' ? [ca as unknown as Buffer] : certs.ca,
      requestCert: true,
      rejectUnauthorized: true,
    },
    authz.node((_req, res) => res.end('ok')),
  );
  if (where === 'addContext') server.addContext('localhost', { ...identity, ca: [ca as unknown as Buffer] });
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

t.test('CAs given as a Uint8Array or a DataView judge the client as a Buffer does', async (t) => {
  const pki = crossSignedPki(t, 'attack9-typed');
  const bytes = new Uint8Array(Buffer.from(pki.newTrust));
  const serial = new X509Certificate(pki.newRoot).serialNumber;
  for (const [kind, ca] of [
    ['Uint8Array', bytes],
    ['DataView', new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)],
  ] as const)
    for (const where of ['server', 'addContext'] as const)
      await t.test(`a ${kind} in the ${where} ca`, async (t) => {
        const guard = new SerialGuard();
        const port = await serve(t, guard, ca, where);
        const padded = pki.leaf + pki.oldIntermediate + pki.oldRoot;
        t.equal(await request(t, port, pki.leafKey, padded), 200, 'the padded client is served');
        guard.revoke(serial);
        const plain = await request(t, port, pki.leafKey, pki.leaf);
        t.not(plain, 200, `after the new root is revoked the leaf alone is refused (${plain})`);
        const after = await request(t, port, pki.leafKey, padded);
        t.not(after, 200, `and so is the padded client (${after})`);
      });
});
