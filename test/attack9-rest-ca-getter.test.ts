// Attack: lib/http/node-context-cas.ts records a context's CAs by reading `options.ca` again after
// node made the context, and by iterating it with for...of, where node read it once (destructuring)
// and walks an array by index (ArrayPrototypeForEach). Whatever can answer the two reads
// differently makes the record differ from the store: an accessor `ca` (a config object exposing
// computed or reloaded values, a Proxy), or an array whose iterator is not its indices (an array
// subclass, a sparse list). Here the accessor gives the new pair to node and, at the second read,
// the new and old pairs: the store trusts the new root only, the library judges the client's chain
// under both and builds it through the old intermediate and root, so a fleet's revocation of the
// new root misses the client of the SNI context.
//
// The fix: read `options.ca` once, before calling node, and pass node options whose `ca` is that
// value (a shallow copy of the options with the snapshot); walk arrays by index as node does.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { crossSignedPki } from './helpers/cross-signed-pki';
import { serveHttps, tlsGet } from './helpers/https-resumption';

async function serve(t: Test, guard: SerialGuard, context: tls.SecureContext): Promise<number> {
  const tlsOptions = {
    ca: certs.ca,
    SNICallback: (_name: string, done: (error: Error | null, context: tls.SecureContext) => void) =>
      done(null, context),
  };
  return (await serveHttps(t, { guard, tls: tlsOptions })).port;
}

/** GET / over a new connection presenting `cert`: the status, or 'closed'. */
async function request(t: Test, port: number, key: string, cert: string): Promise<number | 'closed'> {
  return (await tlsGet(t, { port, key, cert })).status;
}

t.test('the CAs recorded for a context are those node loaded, however the options answer', async (t) => {
  const pki = crossSignedPki(t, 'attack9-getter');
  const contexts: Record<string, () => tls.SecureContext> = {
    'an accessor answering a second read otherwise': () => {
      let reads = 0;
      return tls.createSecureContext({
        key: certs.serverKey,
        cert: certs.serverChain,
        get ca() {
          return reads++ === 0 ? [pki.newTrust] : [pki.oldTrust, pki.newTrust];
        },
      });
    },
    'an array whose iterator is not its indices': () => {
      const ca = [pki.newTrust];
      Object.defineProperty(ca, Symbol.iterator, {
        value: function* () {
          yield pki.oldTrust;
          yield pki.newTrust;
        },
      });
      return tls.createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca });
    },
  };
  for (const [name, make] of Object.entries(contexts))
    await t.test(name, async (t) => {
      const guard = new SerialGuard();
      const port = await serve(t, guard, make());
      t.equal(await request(t, port, pki.leafKey, pki.leaf), 200, 'the client is served');
      guard.revoke(new X509Certificate(pki.newRoot).serialNumber);
      const after = await request(t, port, pki.leafKey, pki.leaf);
      t.not(after, 200, `after the new root is revoked it is refused (${after})`);
    });
});
