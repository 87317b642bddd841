// A TLSSocket the app wraps itself (a STARTTLS or PROXY-protocol front end) and hands to an
// http.Server. node sets `authorized` only on sockets a tls.Server made, so nothing tells REST that
// OpenSSL verified the client's chain on such a socket, and no server tells it whose CAs did: every
// request is refused, with the reason, whatever the client presents. Never let through on the
// strength of a certificate node did not vouch for. A client that presents no certificate is an
// anonymous request, which the policy judges as such.
import t, { type Test } from 'tap';
import http from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

async function frontEnd(
  t: Test,
  socketOptions: Partial<tls.TLSSocketOptions>,
): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  const authz = authorizeRequest({
    policy: (input) => {
      seen.push(input.peer.certificate === undefined ? 'anonymous' : input.peer.certificate.subject);
      return { allow: true, reason: 'ok' };
    },
    exposeReason: true,
  });
  const httpServer = http.createServer(authz.node((_req, res) => res.end('served')));
  const secureContext = tls.createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca });
  const sockets = new Set<net.Socket>();
  const front = net.createServer((raw) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext, ...socketOptions });
    socket.on('error', () => {});
    httpServer.emit('connection', socket);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => front.close(() => resolve()));
  });
  return { port: (front.address() as AddressInfo).port, seen };
}

async function get(t: Test, port: number, identity: { key?: string; cert?: string }): Promise<string> {
  const client = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca, ...identity });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect', SOON);
  return rawHttp(client)('GET', '/').then(
    (reply) => `${reply.status} ${reply.body}`,
    () => 'closed',
  );
}

const verified = { requestCert: true, rejectUnauthorized: true };

t.test('a verified client on an app-made TLSSocket without a server is refused, with the reason', async (t) => {
  const { port, seen } = await frontEnd(t, verified);
  const status = await get(t, port, { key: certs.clientKey, cert: certs.clientChain });
  t.match(status, /^403 .*certificate-unverified/, 'refused as unverified');
  t.notMatch(status, /served/, 'the handler never ran');
  t.same(seen, [], 'the policy was never asked');
});

t.test('the same with a server given (a net.Server): refused', async (t) => {
  const holder = net.createServer();
  const { port } = await frontEnd(t, { ...verified, server: holder });
  const status = await get(t, port, { key: certs.clientKey, cert: certs.clientChain });
  t.match(status, /^403 .*certificate-unverified/, 'refused as unverified');
});

t.test('a client with no certificate on such a socket is anonymous to the policy', async (t) => {
  const { port, seen } = await frontEnd(t, { requestCert: true, rejectUnauthorized: false });
  t.equal(await get(t, port, {}), '200 served', 'this policy admits anonymous requests');
  t.same(seen, ['anonymous'], 'and was asked about one, with no certificate');
});
