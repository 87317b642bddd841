// Attack (fail open): node loads a `crl` item with one PEM_read_bio_X509_CRL call: only the FIRST
// CRL of each item is loaded, the rest of the item is ignored. The library records the item's
// whole text and lib/http/node-server-trust.ts libraryContext() joins every item and loads every
// CRL in it (`crl?.join('\n')`, no per-item reading as loadableCas does for `ca`). OpenSSL, given
// several CRLs of one issuer, judges by the newest (lastUpdate) one. So an item holding two CRLs
// of the CA, an older one that revokes the client and a newer one that does not (a CRL file
// appended to, a bundle of "current + previous"), is read by node as "revoked" (the older one is
// all it loads: full handshakes fail) and by the library as "not revoked" (the newer one wins).
// REST judges a resumed session itself (OpenSSL verifies nothing on resumption) under the
// library's reading: the client node refuses keeps being served on its resumed sessions.
//
// (The full handshake being refused shows node loaded the older CRL alone: with both, the newer
// one would have served it. The control, the revoking CRL alone, passes.)
//
// The fix: record CRLs as node loads them: the first `X509 CRL` block of each item (skipping
// other PEM blocks before it, as PEM_read_bio_X509_CRL does), nothing else from that item.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { certs } from './helpers/certs';
import { OpensslWorkspace } from './helpers/openssl-ca';
import { serveHttps, tlsGet, answerResumed, type Reply } from './helpers/https-resumption';

function request(
  t: Test,
  port: number,
  key: string,
  cert: string,
  session?: Buffer,
): Promise<Reply<number | 'closed'>> {
  // A TLS 1.3 ticket comes after the handshake: give it a moment.
  return tlsGet(t, { port, key, cert, session, refused: 'closed', closeAfter: 50, closeAfterOnlyWithoutTicket: true });
}

t.test('an item with two CRLs: node loads the first (revoking), the library the newest (not)', async (t) => {
  const ws = new OpensslWorkspace(t);
  const root = ws.ca('r', '-subj', '/CN=attack9e crl root', '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign'); // prettier-ignore
  const leaf = ws.leaf('c', 'r', { subject: '/CN=attack9e client', serial: '0x3e3e', days: 2 });
  const leafKey = ws.read('c.key');
  const revoking = ws.crl('r', [leaf]);
  await sleep(1100); // a later lastUpdate (one-second resolution)
  const clean = ws.crl('r', []);
  // The control (passes): the revoking CRL alone. The attack: the file holding both.
  const files: Record<string, string> = {
    'revoking CRL alone (control)': revoking,
    'older revoking + newer clean': revoking + clean,
  };
  for (const [name, crl] of Object.entries(files))
    await t.test(name, async (t) => {
      const identity = { key: certs.serverKey, cert: certs.serverChain };
      const { server, port } = await serveHttps(t, {
        tls: { ca: root, ticketKeys: randomBytes(48) },
        answer: answerResumed,
      });

      const first = await request(t, port, leafKey, leaf);
      t.equal(first.status, 200, 'served before the CRL');
      t.ok(first.session, 'and given a ticket');
      // The operator loads the CA's CRL file, which holds the older CRL and the newer one.
      server.setSecureContext({ ...identity, ca: root, crl });
      const full = await request(t, port, leafKey, leaf);
      t.equal(full.status, 'closed', 'node (first CRL of the item: revoked) refuses its full handshake');
      const resumed = await request(t, port, leafKey, leaf, first.session);
      t.not(resumed.status, 200, `its resumed session is refused too (${resumed.status} ${resumed.body ?? ''})`);
    });
});
