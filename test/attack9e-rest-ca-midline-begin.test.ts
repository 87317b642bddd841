// Attack (fail open): OpenSSL's PEM reader (node loads `ca` items with PEM_read_bio_X509_AUX)
// takes a block only where a line BEGINS with `-----BEGIN CERTIFICATE-----`; a BEGIN marker
// after other text on its line ("# old root -----BEGIN CERTIFICATE-----", a line a tool or an
// editor joined, a CRLF file whose CR-only line breaks merged lines) is no block for it: the lines
// up to its END are skipped as text and that certificate is not loaded. loadableCas() in
// lib/http/node-server-trust.ts matches /-----BEGIN ...-----([^-]*)-----END/ anywhere, mid-line
// included, so the library trusts that certificate while node does not. REST judges a resumed
// session itself (OpenSSL verifies nothing on resumption) under the library's reading: after the
// operator loads such a CA file with setSecureContext(), a client of that CA is refused by node on
// a full handshake and still served on its resumed sessions. (The control, the marker at the start
// of its line, is a CA node loads, and the client is served both ways.)
//
// The fix: anchor the block to a line start as OpenSSL does (/^-----BEGIN ...-----\r?$/m, and the
// END likewise), or have the addon read each item with PEM_read_bio_X509_AUX in a loop exactly as
// node does and record what it loaded.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, type Reply } from './helpers/https-resumption';

function request(t: Test, port: number, session?: Buffer): Promise<Reply<number | 'closed'>> {
  return tlsGet(t, { port, session, refused: 'closed', closeAfter: 50, closeAfterOnlyWithoutTicket: true });
}

const ca = certs.ca + certs.intermediate;
const variants: Record<string, string> = {
  'the marker at the start of its line (control)': certs.wrongCa + '# the root\n' + ca,
  'text before the marker on its line': certs.wrongCa + '# the root ' + ca,
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
    const resumed = await request(t, port, first.session);
    if (name.endsWith('(control)')) {
      t.equal(full.status, 200, 'node loaded the root: the full handshake is served');
      t.equal(resumed.status, 200, 'and so is the resumed session');
      return;
    }
    t.equal(full.status, 'closed', 'node (the root not loaded) refuses its full handshake');
    t.not(resumed.status, 200, `its resumed session is refused too (${resumed.status} ${resumed.body ?? ''})`);
  });
}
