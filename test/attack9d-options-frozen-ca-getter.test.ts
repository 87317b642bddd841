// Attack (fail open): for options whose `ca` is a frozen property (Object.freeze()d configuration,
// which node's addContext() hands to createSecureContext as given), the wrapper in
// lib/http/node-context-cas.ts now hands node the caller's own array, saying "the wrapper read it
// already, and it cannot change: the record and node agree". Only the property cannot change: the
// array's elements are read twice, once by the wrapper (itemsOf) and once by node, and an element
// that is an accessor (a lazily loaded file, a getter over a rotating secret store) answers each
// read anew. The library records the first reading and node loads the second. Here node's context
// for the tenant trusts the new root and its intermediate; the library records the old pair. A
// client sending its leaf with the old cross-signed intermediate and root passes node (through the
// new intermediate in its store) and REST verifies it under the old pair: after the fleet revokes
// the new intermediate, the padded client is still served (the d369171 defect, back through frozen
// options). Before 9068a80 the wrapper answered its own copy for every `ca`, so node loaded what
// was recorded.
//
// The fix: when `ca`/`crl` is frozen, hand node a plain unfrozen copy of the options (own
// enumerable properties, getters read once from the target) instead of a Proxy, so node reads the
// recorded items; or record no trust ('unknown', with the warning) when a frozen array's elements
// are not plain data properties.
//
// Fixed the stricter way: a frozen `ca`/`crl` whose items are not plain data is recorded as a
// trust that cannot be told, and every request on that context is denied (not judged on the
// chain node shows, which the padding defeats). The served-before check below expects that.
import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { crossSignedPki, type CrossSignedPki } from './helpers/cross-signed-pki';
import { serveHttps, tlsGet } from './helpers/https-resumption';

/** A `ca` array whose first reading (the wrapper's) gives `indexed`, the next (node's) `iterated`. */
const variants: Record<string, (indexed: string, iterated: string) => string[]> = {
  // The control: a plain frozen array, read alike both ways (this one passes).
  'plain frozen array (control)': (_indexed, iterated) => Object.freeze([iterated]) as string[],
  'element getter': (indexed, iterated) => {
    let reads = 0;
    const ca: string[] = [];
    Object.defineProperty(ca, 0, { enumerable: true, get: () => (reads++ === 0 ? indexed : iterated) });
    return ca;
  },
};

async function serve(t: Test, guard: SerialGuard, ca: string[]): Promise<number> {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const { port } = await serveHttps(t, {
    guard,
    tls: { ca: certs.ca },
    // Shared, frozen tenant configuration: node's addContext hands it to createSecureContext as is.
    setup: (server) => server.addContext('localhost', Object.freeze({ ...identity, ca })),
  });
  return port;
}

async function request(t: Test, port: number, key: string, cert: string): Promise<number | string> {
  return (await tlsGet(t, { port, key, cert, refused: 'refused' })).status;
}

t.test('a frozen tenant ca whose element node reads otherwise than the wrapper did', async (t) => {
  const pki: CrossSignedPki = crossSignedPki(t, 'attack9d');
  for (const [name, make] of Object.entries(variants)) {
    await t.test(name, async (t) => {
      const guard = new SerialGuard();
      const port = await serve(t, guard, make(pki.oldTrust, pki.newTrust));
      const padded = pki.leaf + pki.oldIntermediate + pki.oldRoot;
      const before = await request(t, port, pki.leafKey, padded);
      if (name === 'element getter') t.not(before, 200, `a trust that cannot be told denies (${before})`);
      else t.equal(before, 200, 'the padded client is served before the revocation');
      guard.revoke(new X509Certificate(pki.newIntermediate).serialNumber);
      const after = await request(t, port, pki.leafKey, padded);
      t.not(after, 200, `after the new intermediate is revoked the padded client is refused (${after})`);
      // What node loaded is the second reading: a client of the CA the wrapper read is refused.
      const probe = await serve(t, new SerialGuard(), make(certs.ca, pki.newTrust));
      const other = await request(t, probe, certs.clientKey, certs.clientChain);
      t.not(other, 200, `node trusts its own reading, not what the wrapper recorded (${other})`);
    });
  }
});
