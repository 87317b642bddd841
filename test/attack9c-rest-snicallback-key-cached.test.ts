// Attack: lib/http/node-server-trust.ts appSniCallback() looks for node's internal 'snicallback'
// symbol on the first server it is asked about and caches the answer process-wide, including
// "not found" (null). A node:tls server socket made by the app, `new tls.TLSSocket(raw, { isServer:
// true, server: netServer, ... })` (node documents `server` as a net.Server; the usual shape of
// PROXY-protocol or STARTTLS front ends that hand the socket to an http.Server), has a `server`
// without that symbol. If such a socket is the first REST judges, every node:https server of the
// process is taken to have an SNICallback the library cannot see: a resumed TLS 1.3 session with a
// server name (every hostname client sends one) finds no callback answer and is denied 403
// certificate-chain-unknown, on servers that have no SNICallback and no addContext at all.
//
// The fix: look the symbol up per server (or find it once on tls.Server.prototype / a throwaway
// tls.Server the library makes itself), never cache a miss from a non-tls.Server; treat a server
// without the symbol as having no SNICallback (its sockets' contexts are their own).
import t, { type Test } from 'tap';
import http from 'node:http';
import https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';
import { tlsGet, statusAndBodyIf200, type Reply } from './helpers/https-resumption';

function request(t: Test, port: number, session?: Buffer): Promise<Reply<string>> {
  return tlsGet(t, { port, session, read: statusAndBodyIf200, closeAfter: 20 });
}

async function listen(t: Test, server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

t.test("an app-made TLSSocket first does not break resumed sessions of the process's https servers", async (t) => {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  const handler = authz.node((req, res) =>
    res.end(`resumed=${String((req.socket as tls.TLSSocket).isSessionReused())}`),
  );

  // A front end that terminates TLS itself and hands the socket to an http.Server.
  const httpServer = http.createServer(handler);
  const secureContext = tls.createSecureContext({ ...identity, ca: certs.ca });
  const sockets = new Set<net.Socket>();
  const front: net.Server = net.createServer((raw) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    const socket = new tls.TLSSocket(raw, {
      isServer: true,
      server: front,
      secureContext,
      requestCert: true,
      rejectUnauthorized: true,
    });
    socket.on('error', () => {});
    httpServer.emit('connection', socket);
  });
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
  });
  const frontPort = await listen(t, front);
  const viaFront = await request(t, frontPort);
  // (node sets `authorized` only on sockets its tls.Server made, so REST denies this one: what
  // matters is that REST judged it first.)
  t.match(viaFront.status, /^\d{3} /, "REST judged the front end's request");

  // An ordinary node:https server in the same process: no SNICallback, no addContext.
  const server = https.createServer(
    { ...identity, ca: certs.ca, requestCert: true, rejectUnauthorized: true },
    handler,
  );
  t.teardown(() => server.closeAllConnections());
  const port = await listen(t, server);
  const first = await request(t, port);
  t.equal(first.status, '200 resumed=false', 'the https server serves a full handshake');
  const resumed = await request(t, port, first.session);
  t.equal(resumed.status, '200 resumed=true', 'and its resumed session');
});
