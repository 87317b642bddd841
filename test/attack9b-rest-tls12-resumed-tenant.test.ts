// Attack: REST on node:https judges a TLS 1.2 session that resumes under the server's *default*
// context (lib/http/node-server-trust.ts: "a TLS 1.2 session that resumes has no server name at
// node's level"), whatever context verified it at its full handshake. On a multi-tenant server
// (addContext() or an SNICallback per tenant, a default context trusting another PKI or none of the
// tenants'), every resumed TLS 1.2 session of a tenant's client is denied 403
// certificate-chain-unknown although its full handshakes are served; clients that cache sessions
// (the default for node, curl, Java, Go) get 403 on every reconnection. TLS 1.3 sessions are served.
//
// The fix: learn the verifying context per session, not per name: at a full handshake's first
// request record the native context against the session (socket.getSession()'s id / the ticket,
// or the leaf fingerprint with the server), and judge a TLS 1.2 resumption under what its session
// was verified under (node shows `servername` false on such a connection, so the name cannot be
// recomputed); deny only what no session record covers.
import t, { type Test } from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

interface Reply {
  status: string;
  session?: Buffer;
}

async function request(t: Test, port: number, session?: Buffer): Promise<Reply> {
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    maxVersion: 'TLSv1.2',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    ...(session && { session }),
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  let ticket: Buffer | undefined;
  client.on('session', (value: Buffer) => (ticket = value));
  await waitFor(client, 'secureConnect', SOON);
  const closed = new Promise<string>((resolve) => client.once('close', () => resolve('closed')));
  const status = await Promise.race([
    rawHttp(client)('GET', '/').then(
      (reply) => `${reply.status} ${String(reply.body)}`,
      () => 'closed',
    ),
    closed,
  ]);
  return { status, session: ticket ?? client.getSession() };
}

for (const how of ['addContext', 'SNICallback'] as const) {
  t.test(`${how}: a tenant's resumed TLS 1.2 sessions are served as its full handshakes are`, async (t) => {
    const identity = { key: certs.serverKey, cert: certs.serverChain };
    const tenant = tls.createSecureContext({ ...identity, ca: certs.ca });
    const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
    const server = https.createServer(
      {
        ...identity,
        ca: certs.wrongCa,
        requestCert: true,
        rejectUnauthorized: true,
        ...(how === 'SNICallback' && {
          SNICallback: (_name: string, cb: (e: Error | null, c?: tls.SecureContext) => void) => cb(null, tenant),
        }),
      },
      authz.node((req, res) => res.end(`resumed=${String((req.socket as tls.TLSSocket).isSessionReused())}`)),
    );
    if (how === 'addContext') server.addContext('localhost', { ...identity, ca: certs.ca });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = (server.address() as AddressInfo).port;
    const first = await request(t, port);
    t.equal(first.status, '200 resumed=false', 'a full handshake is served');
    const resumed = await request(t, port, first.session);
    t.equal(resumed.status, '200 resumed=true', 'and so is its resumed session');
  });
}
