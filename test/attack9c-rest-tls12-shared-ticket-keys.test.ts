// Attack: the name a TLS 1.2 session was made under is kept in one process's memory
// (lib/http/node-server-trust.ts namesBySession), but the session itself lives in a ticket any
// process holding the server's ticket keys resumes: node's docs recommend sharing them
// (server.setTicketKeys()) across cluster workers and load-balanced instances so sessions survive
// a change of process (with one sessionIdContext, which cluster workers share by default: node
// derives it from process.argv), and the keys are often loaded from configuration so they survive
// a restart.
// A tenant's (addContext) client whose full handshake was served by one process and whose
// resumption lands on another (or on the same one after a restart) is judged under the default
// context and refused 403 certificate-chain-unknown, although both processes serve its full
// handshakes and node resumed the session.
//
// The fix: carry what judges a TLS 1.2 resumption with the session, not in one process: e.g. judge
// it under the context the request's Host selects and require the remembered chain to verify there
// (re-verifying as the TLS 1.3 path does), or, when the session's name is unknown, try the
// contexts of the server (addContext entries / the SNICallback for the Host) and accept only a
// verifying one whose name matches the request; at least document that TLS 1.2 sessions resumed
// across processes are denied.
import t, { type Test } from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

const MEMBER = join(__dirname, 'helpers', 'tls12-tenant-member.mjs');

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
  const status = await rawHttp(client)('GET', '/').then(
    (reply) => `${reply.status} ${reply.status === 200 ? String(reply.body) : ''}`,
    () => 'closed',
  );
  client.destroy();
  return { status, session: ticket ?? client.getSession() };
}

t.test("a tenant's TLS 1.2 session resumed on another process with the same ticket keys is served", async (t) => {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const ticketKeys = randomBytes(48);
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  const server = https.createServer(
    { ...identity, ca: certs.wrongCa, requestCert: true, rejectUnauthorized: true, sessionIdContext: 'tenants' },
    authz.node((req, res) => res.end(`resumed=${String((req.socket as tls.TLSSocket).isSessionReused())}`)),
  );
  server.addContext('localhost', { ...identity, ca: certs.ca });
  server.setTicketKeys(ticketKeys);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const member = fork(MEMBER, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.teardown(() => {
    if (member.connected) member.disconnect();
    member.kill();
  });
  member.send({ identity, defaultCa: certs.wrongCa, tenantCa: certs.ca, ticketKeys: ticketKeys.toString('hex') });
  let timer: NodeJS.Timeout | undefined;
  const [{ port: otherPort }] = (await Promise.race([
    once(member, 'message'),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('member did not start')), 20_000))),
  ]).finally(() => clearTimeout(timer))) as [{ port: number }];
  const port = (server.address() as AddressInfo).port;

  const first = await request(t, port);
  t.equal(first.status, '200 resumed=false', 'a full handshake on this process is served');
  const elsewhere = await request(t, otherPort);
  t.equal(elsewhere.status, '200 resumed=false', 'and one on the other process');
  const again = await request(t, port, first.session);
  t.equal(again.status, '200 resumed=true', 'the session resumed on this process is served');
  const moved = await request(t, otherPort, first.session);
  t.equal(moved.status, '200 resumed=true', 'and so is the same session resumed on the other process');
});
