// Attack: on the owned tier, getPeerCertificate(true) (legacyPeerCertificate) links the chain OpenSSL
// verified only when it is longer than the list the client presented; otherwise it links the
// presented list in the order sent, and lib/http/peer.ts takes a list ending in any self-signed
// certificate as complete. A client that pads its Certificate message with unrelated certificates
// (here the leaf, one junk certificate and a self-signed junk CA; OpenSSL ignores both when it
// builds the path) has authorizeRequest's guards judge [leaf, junk, junk CA] instead of what the
// handshake verified. A fleet's revocation of the server-store intermediate or of the root its leaf
// was verified with then lets every REST request through, where the same client without padding
// is refused. The padded list is also remembered as the leaf's verified chain for its resumptions.
//
// The fix: for the owned tier, build the REST chain from the socket's verified chain
// (getVerifiedChain / kVerifiedChain, every certificate verification stood on) and never from the
// presented order; in legacyPeerCertificate use the verified chain whenever verification built one.
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
/** Two certificates that have nothing to do with the client's path; the last is self-signed. */
const padding = certs.serverCert + certs.wrongCa;

async function serve(t: Test, guard: SerialGuard, ca: string): Promise<number> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  const app = http.createServer(authz.node((_req, res) => res.end('ok')));
  const server = createServer(
    { key: certs.serverKey, cert: certs.serverChain, ca, requestCert: true, rejectUnauthorized: true },
    (socket) => app.emit('connection', socket),
  );
  t.teardown(() => app.closeAllConnections());
  return listen(t, server);
}

/** GET / over a new connection presenting `cert`: the status, or 'closed'. */
async function request(t: Test, port: number, cert: string): Promise<number | 'closed'> {
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect', SOON);
  const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
  return Promise.race([
    rawHttp(client)('GET', '/').then(
      (reply) => reply.status,
      () => 'closed' as const,
    ),
    closed,
  ]);
}

for (const [name, serial, ca, presented] of [
  // The intermediate comes from the server's store: the client presents its leaf and the padding.
  ['store intermediate', intermediate!.serialNumber, certs.caChain, certs.clientCert + padding],
  // The client presents its own path and one padding certificate: as long as the verified chain.
  ['root', root.serialNumber, certs.ca, certs.clientChain + certs.wrongCa],
] as const) {
  t.test(`REST on the owned tier: a revoked ${name} refuses a client that pads its chain`, async (t) => {
    const guard = new SerialGuard();
    const port = await serve(t, guard, ca);
    guard.revoke(serial);
    const plain = await request(t, port, name === 'root' ? certs.clientChain : certs.clientCert);
    t.not(plain, 200, `without padding the request is refused (${plain})`);
    const padded = await request(t, port, presented);
    t.not(padded, 200, `with padding it is refused too (${padded})`);
  });
}
