// Attack: node applies no CRL for `crl: []` (an array walked with no items), the shape of "no CRL
// files configured" (`crl: crlFiles.map(read)`), and verifies with `ca` alone. The library's
// wrapper finds pemText([]) undefined and so records no trust for the context at all, `ca` included
// (lib/http/node-context-cas.ts snapshot()). The server's trust is then 'unknown' and REST judges
// the chain node shows: a client padding its leaf with the old cross-signed intermediate and old
// self-signed root (test/attack7-rest-sni-anchor) is served 200 after the fleet revoked the new
// root or intermediate the server's `ca` holds, while its leaf alone is refused.
//
// The fix: treat an empty `crl` array as absent, as node does, recording the `ca` alone; more
// generally, when a context's `ca` is known but something else about its trust is not, or the
// library cannot build it, deny (certificate-chain-unknown) rather than judge the shown chain.
import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { SerialGuard } from './helpers/serial-guard';
import { crossSignedPki } from './helpers/cross-signed-pki';
import { serveHttps, tlsGet } from './helpers/https-resumption';

async function serve(t: Test, guard: SerialGuard, ca: string, crl: string | string[]): Promise<number> {
  return (await serveHttps(t, { guard, tls: { ca, crl } })).port;
}

/** GET / over a new connection presenting `cert`: the status, or 'closed'. */
async function request(t: Test, port: number, key: string, cert: string): Promise<number | 'closed'> {
  return (await tlsGet(t, { port, key, cert })).status;
}

t.test('a crl node ignores does not make the trust unknown', async (t) => {
  const pki = crossSignedPki(t, 'attack9b-empty-crl');
  for (const [label, crl] of [['createServer({ ca, crl: [] })', [] as string[]]] as const) {
    for (const [name, serial] of [
      ['new root', new X509Certificate(pki.newRoot).serialNumber],
      ['new intermediate', new X509Certificate(pki.newIntermediate).serialNumber],
    ] as const) {
      await t.test(`${label}, a revoked ${name}`, async (t) => {
        const guard = new SerialGuard();
        const port = await serve(t, guard, pki.newTrust, crl);
        const padded = pki.leaf + pki.oldIntermediate + pki.oldRoot;
        t.equal(await request(t, port, pki.leafKey, pki.leaf), 200, 'the leaf alone is served before the revocation');
        guard.revoke(serial);
        const plain = await request(t, port, pki.leafKey, pki.leaf);
        t.not(plain, 200, `after it the leaf alone is refused (${plain})`);
        const after = await request(t, port, pki.leafKey, padded);
        t.not(after, 200, `and so is the client padding with the old cross-signed pair (${after})`);
      });
    }
  }
});
