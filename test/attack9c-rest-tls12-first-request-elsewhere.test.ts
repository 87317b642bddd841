// Attack: a TLS 1.2 session is judged under the name its full handshake had only if that full
// handshake's connection reached REST (lib/http/node-server-trust.ts serverNameOf() records the name
// by master-secret digest at a connection's first REST judgement). A connection whose requests went
// to routes not behind authorizeRequest (a health check, a login page, static files, or a client
// that handshook and closed before sending anything) teaches nothing, so when the client resumes
// that session and calls a protected route it is judged under the server's default context: on a
// multi-tenant server (addContext per tenant, a default context trusting another PKI) the tenant's
// client gets 403 certificate-chain-unknown on every resumption, although its full handshakes
// are served.
//
// The fix: record the name when the session is made, not at a first request: at the server's
// 'secureConnection' / 'newSession' (a listener the library adds once per server it sees, or
// in the SNI selection it already wraps), keyed by the session's master secret digest.
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

async function request(t: Test, port: number, path: string, session?: Buffer): Promise<Reply> {
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
    rawHttp(client)('GET', path).then(
      (reply) => `${reply.status} ${String(reply.body)}`,
      () => 'closed',
    ),
    closed,
  ]);
  client.destroy();
  return { status, session: ticket ?? client.getSession() };
}

t.test("a tenant's TLS 1.2 session first used on an open route is served at a protected one", async (t) => {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  const protectedRoute = authz.node((req, res) =>
    res.end(`resumed=${String((req.socket as tls.TLSSocket).isSessionReused())}`),
  );
  const server = https.createServer(
    { ...identity, ca: certs.wrongCa, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      if (req.url === '/health') return res.end('up');
      protectedRoute(req, res);
    },
  );
  server.addContext('localhost', { ...identity, ca: certs.ca });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  const health = await request(t, port, '/health');
  t.equal(health.status, '200 up', 'the open route on a full handshake');
  const full = await request(t, port, '/');
  t.equal(full.status, '200 resumed=false', 'a full handshake is served at the protected route');
  const resumed = await request(t, port, '/', health.session);
  t.equal(resumed.status, '200 resumed=true', 'and so is the resumed session of the first connection');
});
