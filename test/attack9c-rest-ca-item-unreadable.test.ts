// Attack: node loads a `ca` list item by item, each from its own BIO, and an item it cannot read
// (a truncated file, an empty or corrupt PEM block) just ends that item: the other items' CAs are
// loaded and the server verifies their clients. lib/http/node-context-cas.ts joins all items into
// one text (pemText) and the library reads it in one pass, which stops at the first bad block: the
// CAs after it are missing (or none are read and the trust is 'unloadable'). REST then denies
// every client of those CAs 403 certificate-chain-unknown while node serves their handshakes: one
// bad file in a CA directory (a half-written rotation, a placeholder) takes REST down for all
// tenants whose CA comes after it, with no warning saying why.
//
// The fix: read the recorded CAs as node does, one item at a time (keep the items separate in
// NodeContextTrust, or have the addon read each item with its own BIO and skip an item's
// unreadable tail), and emit a warning naming the unreadable item rather than deny silently.
import t from 'tap';
import { certs } from './helpers/certs';
import { rawHttp } from './helpers/raw-http';
import { waitFor, SOON } from './helpers/owned';
import { serveHttps, tlsClient } from './helpers/https-resumption';

const corrupt = '-----BEGIN CERTIFICATE-----\nTUlJQmFk\n-----END CERTIFICATE-----\n';
const truncated = certs.wrongCa.slice(0, 200);

const lists: Record<string, string[]> = {
  'a truncated file first': [truncated, certs.ca],
  'a corrupt block between two CAs': [certs.wrongCa, corrupt, certs.ca],
};

for (const [name, ca] of Object.entries(lists)) {
  t.test(`${name}: REST serves the clients node verified through the other CAs`, async (t) => {
    const { port } = await serveHttps(t, { tls: { ca }, answer: () => 'served' });
    const client = tlsClient(t, { port });
    await waitFor(client, 'secureConnect', SOON);
    t.pass('the handshake completed: the server (rejectUnauthorized) verified the client');
    const reply = await rawHttp(client)('GET', '/');
    t.equal(`${reply.status} ${String(reply.body)}`, '200 served', 'and REST serves it');
  });
}
