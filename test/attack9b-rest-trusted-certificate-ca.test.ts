// Attack: node reads a `ca` PEM with PEM_read_bio_X509_AUX, so it trusts "-----BEGIN TRUSTED
// CERTIFICATE-----" blocks (openssl x509 -trustout; the format of RHEL/Fedora's
// ca-bundle.trust.crt). The library's own createSecureContext skips them, and with no plain
// CERTIFICATE block rejects the text ("no start line"), so
// lib/http/node-server-trust.ts libraryContext() returns null, the server's trust is 'unknown' and
// REST judges the chain node shows: the cross-signed padding of test/attack7-rest-sni-anchor works
// again. The server trusts the new root and its intermediate, both as TRUSTED CERTIFICATE blocks; a client
// padding its leaf with the old intermediate and old self-signed root is served 200 after the fleet
// revoked the new root or the new intermediate, while the leaf alone is refused. The only trace is
// ERR_CTLS_CLIENT_CAS_UNKNOWN, whose text blames a context made before the library, pfx or default
// roots. (A bundle mixing both forms fails the other way: the library trusts only the plain
// blocks, and clients node verified through a TRUSTED one are denied certificate-chain-unknown.)
//
// The fix: read the recorded `ca` as node does (accept TRUSTED CERTIFICATE blocks in the library's
// CA loading, e.g. PEM_read_bio_X509_AUX, keeping the aux trust/reject settings), and when the
// library cannot load CAs that node loaded, deny (certificate-chain-unknown) instead of judging the
// shown chain: the CAs exist, they are only unreadable here.
import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { SerialGuard } from './helpers/serial-guard';
import { crossSignedPki } from './helpers/cross-signed-pki';
import { serveHttps, tlsGet } from './helpers/https-resumption';

function trusted(pem: string): string {
  return pem
    .replace('BEGIN CERTIFICATE', 'BEGIN TRUSTED CERTIFICATE')
    .replace('END CERTIFICATE', 'END TRUSTED CERTIFICATE');
}

async function serve(t: Test, guard: SerialGuard, ca: string[]): Promise<number> {
  return (await serveHttps(t, { guard, tls: { ca } })).port;
}

/** GET / over a new connection presenting `cert`: the status, or 'closed'. */
async function request(t: Test, port: number, key: string, cert: string): Promise<number | 'closed'> {
  return (await tlsGet(t, { port, key, cert })).status;
}

t.test('a ca of TRUSTED CERTIFICATE blocks, which node trusts, still judges the chain its CAs build', async (t) => {
  const pki = crossSignedPki(t, 'attack9b-trusted');
  for (const [name, serial] of [
    ['new root', new X509Certificate(pki.newRoot).serialNumber],
    ['new intermediate', new X509Certificate(pki.newIntermediate).serialNumber],
  ] as const) {
    await t.test(`a revoked ${name}`, async (t) => {
      const guard = new SerialGuard();
      const port = await serve(t, guard, [trusted(pki.newRoot), trusted(pki.newIntermediate)]);
      const padded = pki.leaf + pki.oldIntermediate + pki.oldRoot;
      t.equal(await request(t, port, pki.leafKey, pki.leaf), 200, 'node trusts the TRUSTED CERTIFICATE CAs');
      t.equal(await request(t, port, pki.leafKey, padded), 200, 'so is the padded client');
      guard.revoke(serial);
      const plain = await request(t, port, pki.leafKey, pki.leaf);
      t.not(plain, 200, `after the revocation the leaf alone is refused (${plain})`);
      const after = await request(t, port, pki.leafKey, padded);
      t.not(after, 200, `and so is the client padding with the old cross-signed pair (${after})`);
    });
  }
});
