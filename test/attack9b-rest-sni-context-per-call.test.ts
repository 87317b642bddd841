// Attack: behind an app's SNICallback, a resumed TLS 1.3 session is judged under the context the
// callback was last seen choosing for its name, kept as a WeakRef to that native context
// (lib/http/node-server-trust.ts learn()); once it is collected, the resumed session is denied
// certificate-chain-unknown. An SNICallback that makes its context per call
// (`cb(null, tls.createSecureContext({ ...tenant }))`, as many examples write it)
// leaves nothing holding that context once the full handshake's connection is gone: after the next
// garbage collection every resumed session of that tenant is refused 403, at a time no one chose
// (a major GC), while its full handshakes are served.
//
// The fix: remember what judges the name, not the native object: keep the choice's trust (the
// recorded { ca, crl } or the library context made from it, as byNativeContext already computes)
// with the learnt name, so a collected context still answers with the same CAs; or, as for the
// other resumption reports, record the verifying trust per session.
import t, { type Test } from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AddressInfo } from 'node:net';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Reply {
  status: string;
  session?: Buffer;
}

async function request(t: Test, port: number, session?: Buffer): Promise<Reply> {
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'tenant.localhost',
    checkServerIdentity: () => undefined,
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    ...(session && { session }),
  });
  client.on('error', () => {});
  let ticket: Buffer | undefined;
  client.on('session', (value: Buffer) => (ticket = value));
  try {
    await waitFor(client, 'secureConnect', SOON);
    const closed = new Promise<string>((resolve) => client.once('close', () => resolve('closed')));
    const status = await Promise.race([
      rawHttp(client)('GET', '/').then(
        (reply) => `${reply.status} ${String(reply.body)}`,
        () => 'closed',
      ),
      closed,
    ]);
    return { status, session: ticket };
  } finally {
    client.destroy();
  }
}

t.test('an SNICallback making its context per call: resumed sessions survive a GC', async (t) => {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  const server = https.createServer(
    {
      ...identity,
      ca: certs.wrongCa,
      requestCert: true,
      rejectUnauthorized: true,
      SNICallback: (_name, cb) => cb(null, tls.createSecureContext({ ...identity, ca: certs.ca })),
    },
    authz.node((req, res) => res.end(`resumed=${String((req.socket as tls.TLSSocket).isSessionReused())}`)),
  );
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;

  const first = await request(t, port);
  t.equal(first.status, '200 resumed=false', 'a full handshake is served');
  const before = await request(t, port, first.session);
  t.equal(before.status, '200 resumed=true', 'and its resumed session');
  await new Promise((resolve) => setTimeout(resolve, 200)); // the server side of both connections closes
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const after = await request(t, port, first.session);
  t.equal(after.status, '200 resumed=true', 'and after a garbage collection, still');
});
