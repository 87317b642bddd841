// Guards (a fleet's revoked serials) judge every certificate verification stood on, not only the
// ones the peer presented. A resumed session presents its leaf alone, and a client may leave out an
// intermediate the server's store holds: a revocation of that intermediate must still find the
// connection (it is indexed under the intermediate's serial) and cut it.
import t, { type Test } from 'tap';
import type { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { attach, connect, createServer, reauthorize, type TLSSocket } from '../dist/index.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { closed, listen, pemChain, waitFor, SOON } from './helpers/owned';

const [, intermediate] = pemChain(certs.clientChain) as [X509Certificate, X509Certificate];
const [root] = pemChain(certs.ca) as [X509Certificate];

async function setUp(t: Test, ca: string, clientCert: string) {
  const guard = new SerialGuard();
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    ca,
    requestCert: true,
    rejectUnauthorized: true,
    maxVersion: 'TLSv1.3',
  });
  const host = (server as unknown as { [kGuardHost]: GuardHost })[kGuardHost];
  host.addGuard(guard);
  const port = await listen(t, server);
  const open = async (session?: Buffer) => {
    const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
    const client = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: certs.ca,
      key: certs.clientKey,
      cert: clientCert,
      ...(session === undefined ? {} : { session }),
    });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    const ticket = session === undefined ? waitFor<[Buffer]>(client, 'session', SOON) : null;
    const [socket] = await accepted;
    socket.on('error', () => {});
    return { client, socket, session: ticket === null ? session! : (await ticket)[0] };
  };
  return { guard, host, open };
}

t.test('a resumed session is judged and indexed with the intermediates its leaf was verified with', async (t) => {
  const { guard, host, open } = await setUp(t, certs.ca, certs.clientChain);
  const full = await open();
  const resumed = await open(full.session);
  t.equal(full.socket.isSessionReused(), false, 'the first connection is a full handshake');
  t.equal(resumed.socket.isSessionReused(), true, 'the second one resumed');
  t.equal(resumed.socket.getPeerCertificateChain().length, 1, 'the resumed session presents its leaf alone');
  t.ok(
    guard.judged.at(-1)!.includes(intermediate.serialNumber),
    "the resumed connection's decision judged the intermediate as well",
  );

  guard.revoke(intermediate.serialNumber);
  const decisions = await host.recheckKeys([`serial:${intermediate.serialNumber}`], 'revocation');
  t.equal(decisions.length, 2, 'both connections are found under the intermediate serial');
  t.ok(
    decisions.every((decision) => !decision.allow && decision.reason === 'certificate-revoked'),
    'both are denied',
  );
  await Promise.all([closed(full.socket), closed(resumed.socket)]);
  t.ok(full.socket.destroyed && resumed.socket.destroyed, 'both are cut');
});

t.test("an intermediate from the server's store, which the client did not present, is judged too", async (t) => {
  const { guard, host, open } = await setUp(t, certs.caChain, certs.clientCert);
  const { socket } = await open();
  t.equal(socket.getPeerCertificateChain().length, 1, 'the client presented its leaf alone');
  t.ok(guard.judged.at(-1)!.includes(intermediate.serialNumber), 'the decision judged the intermediate');
  guard.revoke(intermediate.serialNumber);
  const decisions = await host.recheckKeys([`serial:${intermediate.serialNumber}`], 'revocation');
  t.equal(decisions.length, 1);
  t.equal(decisions[0]!.reason, 'certificate-revoked');
  await closed(socket);
  t.ok(socket.destroyed);
});

t.test('a resumed session, then a fresh certificate on it, are judged with the whole verified chain', async (t) => {
  const { guard, open } = await setUp(t, certs.ca, certs.clientChain);
  const full = await open();
  const resumed = await open(full.session);
  t.equal(resumed.socket.isSessionReused(), true);
  const resumedJudged = guard.judged.at(-1)!;
  t.ok(
    resumedJudged.includes(intermediate.serialNumber) && resumedJudged.includes(root.serialNumber),
    'resumed: the chain its leaf verifies to under the trust of the moment, anchor included',
  );
  const decision = await reauthorize(resumed.socket, { fresh: true });
  t.equal(decision.allow, true);
  const judged = guard.judged.at(-1)!;
  t.ok(
    judged.includes(intermediate.serialNumber) && judged.includes(root.serialNumber),
    'after post-handshake auth: the whole chain OpenSSL verified, anchor included',
  );
});

t.test("attached tier: an intermediate only the attachment's store holds is judged too", async (t) => {
  const guard = new SerialGuard();
  // node:tls's own check cannot build the chain (its CAs are the root alone, the client presents
  // its leaf alone), so node shows the leaf alone; the attachment's CAs include the intermediate.
  const server = tls.createServer(
    { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true, rejectUnauthorized: false },
    (socket) => socket.on('error', () => {}),
  );
  const attachment = attach(server, { ca: certs.caChain });
  t.teardown(() => attachment.detach());
  const host = (attachment as unknown as { [kGuardHost]: GuardHost })[kGuardHost];
  host.addGuard(guard);
  const port = await listen(t, server);
  const accepted = waitFor<[tls.TLSSocket]>(server, 'secureConnection', SOON);
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientCert,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const [socket] = await accepted;
  await reauthorize(socket);
  t.ok(guard.judged.at(-1)!.includes(intermediate.serialNumber), 'the decision judged the intermediate');
  guard.revoke(intermediate.serialNumber);
  const decisions = await host.recheckKeys([`serial:${intermediate.serialNumber}`], 'revocation');
  t.equal(decisions.length, 1, 'the connection is found under the intermediate serial');
  t.equal(decisions[0]?.reason, 'certificate-revoked');
  await closed(socket);
  t.ok(socket.destroyed, 'and cut');
});
