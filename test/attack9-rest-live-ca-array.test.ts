// Attack: REST on node:https (lib/http/peer.ts serverTrust) judges a client's chain under the
// server's `ca` property as it is at the request, read from the app's own array. node copied that
// array into the native store when it made the context and never looks at it again: an app that
// later adds to the array (a CA list shared with other servers or with outbound clients) without
// calling setSecureContext() leaves node's store as it was, but the library re-reads the array
// (same array, other items) and builds the client's chain under CAs the server does not trust.
// Here the server trusts the new root and intermediate only. After the app puts the old
// cross-signed pair into its shared list, the library chains the client's leaf through the old
// intermediate and root, which node's store does not hold: a fleet's revocation of the new root
// or intermediate, the only path the server's verification can stand on, no longer reaches the
// client, padded or not.
//
// The fix: judge the default context by the CAs it was made with (node-context-cas.ts already
// records them for handle._secureContext.context, setSecureContext() included) rather than by the
// live `server.ca` value; or snapshot the text of `server.ca` when node makes the context.
import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { SerialGuard } from './helpers/serial-guard';
import { crossSignedPki } from './helpers/cross-signed-pki';
import { serveHttps, tlsGet } from './helpers/https-resumption';

async function serve(t: Test, guard: SerialGuard, ca: string[]): Promise<number> {
  return (await serveHttps(t, { guard, tls: { ca } })).port;
}

/** GET / over a new connection presenting `cert`: the status, or 'closed'. */
async function request(t: Test, port: number, key: string, cert: string): Promise<number | 'closed'> {
  return (await tlsGet(t, { port, key, cert })).status;
}

t.test('REST on node:https judges by the CAs node verified with, not by the live ca array', async (t) => {
  const pki = crossSignedPki(t, 'attack9-live');
  for (const [name, serial] of [
    ['new root', new X509Certificate(pki.newRoot).serialNumber],
    ['new intermediate', new X509Certificate(pki.newIntermediate).serialNumber],
  ] as const) {
    await t.test(`a revoked ${name}`, async (t) => {
      const guard = new SerialGuard();
      const shared = [pki.newTrust];
      const port = await serve(t, guard, shared);
      const padded = pki.leaf + pki.oldIntermediate + pki.oldRoot;
      t.equal(await request(t, port, pki.leafKey, pki.leaf), 200, 'the leaf alone is served');
      // The app adds the old pair to its shared list for something else; no setSecureContext().
      shared.unshift(pki.oldTrust);
      guard.revoke(serial);
      const plain = await request(t, port, pki.leafKey, pki.leaf);
      t.not(plain, 200, `after the revocation the leaf alone is refused (${plain})`);
      const after = await request(t, port, pki.leafKey, padded);
      t.not(after, 200, `and so is the padded client (${after})`);
    });
  }
});
