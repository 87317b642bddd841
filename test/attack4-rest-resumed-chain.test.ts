// Attack: authorizeRequest's guards judge the chain lib/http/peer.ts knows for the socket. On an
// owned-tier connection that resumed a session, node-style getPeerCertificate(true) shows the leaf
// alone (OpenSSL built no chain), and the REST layer's own memory of verified chains is filled only
// when a request came over a full handshake of that leaf in this process. A client that took its
// ticket on a connection that sent no request (or from another replica) then has every request of
// its resumed sessions judged by the leaf alone, although the owned tier verified that session with
// its intermediate and root: a fleet's revocation of the intermediate or of the root lets the
// request through (200) where a full handshake's request is refused.
//
// The fix: on the owned tier take the chain for REST guards from the socket's own verified
// chain (kVerifiedChain, the same the connection's guards judge, once that includes the anchor for
// resumed sessions), instead of the REST layer's separate memory; deny (chain unknown) when none.
import t, { type Test } from 'tap';
import http from 'node:http';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { createServer } from '../dist/index.js';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { listen, pemChain, waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

const [, intermediate] = pemChain(certs.clientChain);
const root = new X509Certificate(certs.ca);

async function serve(t: Test, guard: SerialGuard): Promise<number> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  const app = http.createServer(authz.node((_req, res) => res.end('ok')));
  const server = createServer(
    { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true, rejectUnauthorized: true },
    (socket) => app.emit('connection', socket),
  );
  t.teardown(() => app.closeAllConnections());
  return listen(t, server);
}

/** A connection; with `ticket`, also the session it was given (the caller then writes nothing on it). */
async function open(
  t: Test,
  port: number,
  session?: Buffer,
  ticket = false,
): Promise<{ client: tls.TLSSocket; session: Buffer | undefined }> {
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    ...(session === undefined ? {} : { session }),
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const next = ticket ? waitFor<[Buffer]>(client, 'session', SOON) : Promise.resolve([session]);
  await waitFor(client, 'secureConnect', SOON);
  return { client, session: (await next)[0] };
}

/** GET / on the connection: the status, or 'closed' when the connection ends without one. */
function answer(client: tls.TLSSocket): Promise<number | 'closed'> {
  const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
  return Promise.race([
    rawHttp(client)('GET', '/').then(
      (reply) => reply.status,
      () => 'closed' as const,
    ),
    closed,
  ]);
}

for (const [name, serial] of [
  ['intermediate', intermediate!.serialNumber],
  ['root', root.serialNumber],
] as const) {
  t.test(`REST on a resumed owned session: a revoked ${name} refuses the request`, async (t) => {
    const guard = new SerialGuard();
    const port = await serve(t, guard);
    const full = await open(t, port, undefined, true);
    full.client.destroy();
    const resumed = await open(t, port, full.session);
    t.equal(resumed.client.isSessionReused(), true, 'the second connection resumed');
    guard.revoke(serial);
    const reply = await answer(resumed.client);
    t.not(reply, 200, `the request is refused (${reply})`);
    const control = await open(t, port);
    const controlReply = await answer(control.client);
    t.not(controlReply, 200, `as it is on a full handshake (${controlReply})`);
  });
}
