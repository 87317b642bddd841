// Attack: REST on node:https (lib/http/peer.ts serverTrust) answers a server whose `ca` is "the
// same value holding the same items" from a per-server memo, comparing the items by identity. An
// app that reloads its CA bundle into the same Buffer (a preallocated read buffer, fs.readSync into
// it) and calls server.setSecureContext({ ca: thatBuffer }) changes what node trusts, since node
// reads the bytes again, but not what the library judges under: the memo still holds the CAs the
// Buffer held before. Here the bundle goes from both roots (mid-migration) to the new pair alone;
// the library keeps building the client's chain through the retired old intermediate and root, so
// a fleet's revocation of the new root or intermediate, the only path node's store can verify,
// misses the client (padded or not).
//
// The fix: judge by the CAs recorded for the native context the handle carries (node-context-cas.ts
// records the text when setSecureContext() makes it), or compare the items' contents, not identity.
import t, { type Test } from 'tap';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { crossSignedPki } from './helpers/cross-signed-pki';
import { serveHttps, tlsGet } from './helpers/https-resumption';

async function serve(t: Test, guard: SerialGuard, ca: Buffer): Promise<Server> {
  return (await serveHttps(t, { guard, tls: { ca } })).server;
}

/** GET / over a new connection presenting `cert`: the status, or 'closed'. */
async function request(t: Test, port: number, key: string, cert: string): Promise<number | 'closed'> {
  return (await tlsGet(t, { port, key, cert })).status;
}

t.test('a CA bundle reloaded into the same Buffer changes what REST judges under', async (t) => {
  const pki = crossSignedPki(t, 'attack9-buffer');
  for (const [name, serial] of [
    ['new root', new X509Certificate(pki.newRoot).serialNumber],
    ['new intermediate', new X509Certificate(pki.newIntermediate).serialNumber],
  ] as const) {
    await t.test(`a revoked ${name}`, async (t) => {
      const guard = new SerialGuard();
      // Mid-migration: both pairs, the old one first.
      const bundle = Buffer.from(pki.oldTrust + pki.newTrust);
      const server = await serve(t, guard, bundle);
      const port = (server.address() as AddressInfo).port;
      const padded = pki.leaf + pki.oldIntermediate + pki.oldRoot;
      t.equal(await request(t, port, pki.leafKey, padded), 200, 'the padded client is served mid-migration');
      // The migration ends: the new pair alone, read into the same Buffer (the rest blank).
      bundle.fill('\n');
      bundle.write(pki.newTrust, 'latin1');
      server.setSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: bundle });
      t.equal(await request(t, port, pki.leafKey, pki.leaf), 200, 'the leaf alone is served after it');
      guard.revoke(serial);
      const plain = await request(t, port, pki.leafKey, pki.leaf);
      t.not(plain, 200, `after the revocation the leaf alone is refused (${plain})`);
      const after = await request(t, port, pki.leafKey, padded);
      t.not(after, 200, `and so is the padded client (${after})`);
    });
  }
});
