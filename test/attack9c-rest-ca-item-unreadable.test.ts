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
import https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';
import { rawHttp } from './helpers/raw-http';
import { waitFor, SOON } from './helpers/owned';

const corrupt = '-----BEGIN CERTIFICATE-----\nTUlJQmFk\n-----END CERTIFICATE-----\n';
const truncated = certs.wrongCa.slice(0, 200);

const lists: Record<string, string[]> = {
  'a truncated file first': [truncated, certs.ca],
  'a corrupt block between two CAs': [certs.wrongCa, corrupt, certs.ca],
};

for (const [name, ca] of Object.entries(lists)) {
  t.test(`${name}: REST serves the clients node verified through the other CAs`, async (t) => {
    const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
    const server = https.createServer(
      { key: certs.serverKey, cert: certs.serverChain, ca, requestCert: true, rejectUnauthorized: true },
      authz.node((_req, res) => res.end('served')),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = (server.address() as AddressInfo).port;
    const client = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: certs.ca,
      key: certs.clientKey,
      cert: certs.clientChain,
    });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    await waitFor(client, 'secureConnect', SOON);
    t.pass('the handshake completed: the server (rejectUnauthorized) verified the client');
    const reply = await rawHttp(client)('GET', '/');
    t.equal(`${reply.status} ${String(reply.body)}`, '200 served', 'and REST serves it');
  });
}
