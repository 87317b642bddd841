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
import { tlsGet, statusAndBody, type Reply } from './helpers/https-resumption';

function request(t: Test, port: number, path: string, session?: Buffer): Promise<Reply<string>> {
  return tlsGet(t, { port, path, maxVersion: 'TLSv1.2', session, read: statusAndBody, closeAfter: 0 });
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
