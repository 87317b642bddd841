// Attack (fail open): a native secure context's trust can grow after it is made: node's
// SecureContext exposes `context.addCRL(pem)` (and addCACert) on the native object, which apps and
// libraries use to load a new CRL into a live server without recreating its context
// (`secureContext.context.addCRL(...)`, `server._sharedCreds.context.addCRL(...)`). node's next
// full handshakes check it. lib/http/node-context-cas.ts records a context's `ca`/`crl` only from
// the options it was made with, and node-server-trust.ts keeps each native context's answer for
// its lifetime: the CRL added later is unknown to REST. A revoked client's full handshake fails,
// but its resumed sessions (which REST judges itself, OpenSSL verifying nothing on resumption)
// are still served, as long as its ticket lives.
//
// The fix: wrap the native context's addCRL/addCACert (the prototype of `context.context`, as
// createSecureContext is wrapped) and record what they add (a context whose CRLs changed gets a
// new library context), or treat a native context whose addCRL was called outside
// createSecureContext as a trust that cannot be told (deny resumed sessions).
import t, { type Test } from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

const ca = [certs.ca, certs.intermediate];
/** node reads one CRL per item: the intermediate's and the root's, apart. */
const crl = certs.crl.split(/(?<=-----END X509 CRL-----\n)/).filter((pem) => pem.includes('BEGIN'));

async function serve(t: Test): Promise<https.Server> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  const server = https.createServer(
    {
      key: certs.serverKey,
      cert: certs.serverChain,
      ca,
      requestCert: true,
      rejectUnauthorized: true,
      ticketKeys: randomBytes(48),
    },
    authz.node((req, res) => res.end(`resumed=${String((req.socket as tls.TLSSocket).isSessionReused())}`)),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return server;
}

interface Reply {
  status: number | 'closed';
  body?: string;
  session?: Buffer;
}

/** GET / over a new connection presenting `cert` (resuming `session` if given). */
async function request(t: Test, port: number, key: string, cert: string, session?: Buffer): Promise<Reply> {
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: certs.ca,
    key,
    cert,
    ...(session && { session }),
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  let ticket: Buffer | undefined;
  client.on('session', (value: Buffer) => (ticket = value));
  const closed = new Promise<Reply>((resolve) => client.once('close', () => resolve({ status: 'closed' })));
  const connected = waitFor(client, 'secureConnect', SOON).then(
    () => true,
    () => false,
  );
  if (!(await Promise.race([connected, closed.then(() => false)]))) return { status: 'closed' };
  const reply = await Promise.race([
    rawHttp(client)('GET', '/').then(
      (answer): Reply => ({ status: answer.status, body: String(answer.body) }),
      (): Reply => ({ status: 'closed' }),
    ),
    closed,
  ]);
  return { ...reply, session: ticket };
}

t.test('a CRL added to the live context refuses resumed sessions too', async (t) => {
  const server = await serve(t);
  const port = (server.address() as AddressInfo).port;
  const first = await request(t, port, certs.clientRevokedKey, certs.clientRevokedChain);
  t.equal(first.status, 200, 'served before the CRL');
  t.ok(first.session, 'and given a ticket');
  // The operator revokes the client: the live context is given the CRLs.
  const native = (server as unknown as { _sharedCreds: { context: { addCRL(pem: string): void } } })._sharedCreds
    .context;
  for (const item of crl) native.addCRL(item);
  const good = await request(t, port, certs.clientKey, certs.clientChain);
  t.equal(good.status, 200, 'another client is served under the CRL');
  const full = await request(t, port, certs.clientRevokedKey, certs.clientRevokedChain);
  t.equal(full.status, 'closed', 'the revoked client full handshake fails');
  const resumed = await request(t, port, certs.clientRevokedKey, certs.clientRevokedChain, first.session);
  t.not(resumed.status, 200, `its resumed session is refused too (${resumed.status} ${resumed.body ?? ''})`);
});
