// Attack (fail open): node loads a `ca` item with OpenSSL's PEM reader (PEM_read_bio_X509_AUX in a
// loop), certificate after certificate, and stops at the first block it cannot read: a certificate
// block that carries PEM headers (`Proc-Type: 4,ENCRYPTED` / `DEK-Info:`, or any header line,
// which OpenSSL fails as "not proc type") ends the item, and the CAs after it are never loaded.
// loadableCas() in lib/http/node-server-trust.ts finds blocks with
// /-----BEGIN ...-----([^-]*)-----END/: a block whose headers contain a '-' does not match at
// all, so it is skipped silently instead of ending the item, and the certificates after it are
// kept. The library then trusts CAs node does not. REST judges a resumed session itself (OpenSSL
// verifies nothing on resumption) under the library's reading: after the operator loads a CA
// file "other CA, a headered block, the old CAs" with setSecureContext(), a client of the old CAs
// is refused by node on a full handshake and still served on its resumed sessions. (The control,
// the same file with no CAs after the headered block, denies.) With a cross-signed PKI the same
// divergence makes REST judge a chain through CAs node never loaded.
//
// The fix: read an item as OpenSSL does: stop the item at the first BEGIN line of a certificate
// label whose block does not parse, headers included (match any `-----BEGIN <label>-----` line,
// not only header-less bodies), or have the addon read each item with PEM_read_bio_X509_AUX in a
// loop exactly as node does and record what it loaded.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, type Reply } from './helpers/https-resumption';

/** A certificate block with PEM headers (its body is a real certificate's). */
function headered(pem: string, headers: string): string {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').trim();
  return `-----BEGIN CERTIFICATE-----\n${headers}\n\n${body}\n-----END CERTIFICATE-----\n`;
}

function request(t: Test, port: number, session?: Buffer): Promise<Reply<number | 'closed'>> {
  return tlsGet(t, { port, session, refused: 'closed', closeAfter: 50, closeAfterOnlyWithoutTicket: true });
}

const ca = certs.ca + certs.intermediate;
const variants: Record<string, string> = {
  'no CAs after the headered block (control)': certs.wrongCa + headered(certs.wrongCa, 'X-Comment: none'),
  'encrypted-style headers':
    certs.wrongCa +
    headered(certs.wrongCa, `Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,${'00112233'.repeat(4)}`) +
    ca,
  'a comment header': certs.wrongCa + headered(certs.wrongCa, 'X-Comment: rotated 2026-12-01') + ca,
  // The same skip, other malformed blocks: a block cut short (no END line, a half-written bundle)
  // and a block whose END line names another label. OpenSSL fails both and ends the item.
  'a truncated block (no END line)': certs.wrongCa + certs.wrongCa.slice(0, 200) + '\n' + ca,
  'an END line of another label':
    certs.wrongCa + certs.wrongCa.replace('-----END CERTIFICATE-----', '-----END X509 CERTIFICATE-----') + ca,
};

for (const [name, item] of Object.entries(variants)) {
  t.test(`${name}: a CA node did not load does not serve resumed sessions`, async (t) => {
    const identity = { key: certs.serverKey, cert: certs.serverChain };
    const { server, port } = await serveHttps(t, {
      tls: { ca: [certs.ca, certs.intermediate], ticketKeys: randomBytes(48) },
      answer: answerResumed,
    });
    const first = await request(t, port);
    t.equal(first.status, 200, 'served under the first CAs');
    t.ok(first.session, 'and given a ticket');
    server.setSecureContext({ ...identity, ca: [item] });
    const full = await request(t, port);
    t.equal(full.status, 'closed', 'node (nothing after the headered block) refuses its full handshake');
    const resumed = await request(t, port, first.session);
    t.not(resumed.status, 200, `its resumed session is refused too (${resumed.status} ${resumed.body ?? ''})`);
  });
}
