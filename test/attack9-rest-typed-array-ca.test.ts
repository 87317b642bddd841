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
import { X509Certificate } from 'node:crypto';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { crossSignedPki } from './helpers/cross-signed-pki';
import { serveHttps, tlsGet } from './helpers/https-resumption';

/** Where the CAs go: the server's own `ca`, or the `ca` of the context addContext() makes. */
type Where = 'server' | 'addContext';

async function serve(t: Test, guard: SerialGuard, ca: Uint8Array | DataView, where: Where): Promise<number> {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const { port } = await serveHttps(t, {
    guard,
    // node's types say string or Buffer; node itself takes any ArrayBufferView.
    tls: { ca: where === 'server' ? [ca as unknown as Buffer] : certs.ca },
    setup: (server) => {
      if (where === 'addContext') server.addContext('localhost', { ...identity, ca: [ca as unknown as Buffer] });
    },
  });
  return port;
}

/** GET / over a new connection presenting `cert`: the status, or 'closed'. */
async function request(t: Test, port: number, key: string, cert: string): Promise<number | 'closed'> {
  return (await tlsGet(t, { port, key, cert })).status;
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
