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
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, statusAndBodyIf200, type Reply } from './helpers/https-resumption';

const MEMBER = join(__dirname, 'helpers', 'tls12-tenant-member.mjs');

function request(t: Test, port: number, session?: Buffer): Promise<Reply<string>> {
  return tlsGet(t, { port, maxVersion: 'TLSv1.2', session, read: statusAndBodyIf200, closeAfter: 0 });
}

t.test("a tenant's TLS 1.2 session resumed on another process with the same ticket keys is served", async (t) => {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const ticketKeys = randomBytes(48);
  const { port } = await serveHttps(t, {
    tls: { ca: certs.wrongCa, sessionIdContext: 'tenants' },
    answer: answerResumed,
    setup: (server) => {
      server.addContext('localhost', { ...identity, ca: certs.ca });
      server.setTicketKeys(ticketKeys);
    },
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

  const first = await request(t, port);
  t.equal(first.status, '200 resumed=false', 'a full handshake on this process is served');
  const elsewhere = await request(t, otherPort);
  t.equal(elsewhere.status, '200 resumed=false', 'and one on the other process');
  const again = await request(t, port, first.session);
  t.equal(again.status, '200 resumed=true', 'the session resumed on this process is served');
  const moved = await request(t, otherPort, first.session);
  t.equal(moved.status, '200 resumed=true', 'and so is the same session resumed on the other process');
});
