// Attack (a pending state that nothing ends): detach() closes every attached connection held with
// no decision in force, one after another in a plain loop, after it has already cleared its
// records. A socket whose destroy() throws (an app or instrumentation wrapper around it, a
// patched stream) throws out of that loop: detach() itself throws to its caller, and every held
// connection after it in the loop is never closed. They are untracked now, so nothing will ever
// decide or close them: they stay held for good, the very state detach() promises never to leave.
// The engine's own denials are careful the same way elsewhere (a listener that throws cannot leave
// a denied connection open).
//
// A correct library closes every other held connection whatever one socket's destroy() does, and
// never throws out of detach() for it (it reports the error, as a listener's is reported).
//
// Attack class: pending states are budgets (12); a failure isolated from the others (13).
import t from 'tap';
import * as tls from 'node:tls';
import { attach, reauthorize } from '../dist/index.js';
import { listen, waitFor } from './helpers/owned';
import { makePki, delay, codeOf } from './helpers/mtls';

t.test('one socket whose destroy() throws does not leave the other held connections held for good', async (t) => {
  const pki = await makePki();
  let allow = true;
  const server = tls.createServer({
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
    rejectUnauthorized: true,
    maxVersion: 'TLSv1.3',
  });
  const attachment = attach(server, { ca: pki.ca.rootCert, intermediates: pki.ca.issuerChain, policy: () => allow });
  t.teardown(() => {
    try {
      attachment.detach();
    } catch {
      /* the defect under test */
    }
  });
  const port = await listen(t, server);
  const sockets: tls.TLSSocket[] = [];
  for (let i = 0; i < 3; i++) {
    const decided = waitFor<[unknown, tls.TLSSocket]>(server, 'decision');
    const client = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: pki.ca.rootCert,
      key: pki.client.key,
      cert: pki.client.chain,
      maxVersion: 'TLSv1.3',
    });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    await waitFor(client, 'secureConnect');
    const [, socket] = await decided;
    socket.on('error', () => {});
    t.teardown(() => socket.destroy());
    sockets.push(socket);
  }
  allow = false;
  // Denied and kept open: each is held, and detach() must close it (ERR_CTLS_DETACHED).
  for (const socket of sockets) t.match(await reauthorize(socket, { destroyOnDeny: false }), { allow: false });
  const wrapped = sockets[0]!;
  const destroy = wrapped.destroy;
  wrapped.destroy = function () {
    throw new Error('a destroy() wrapper failed');
  };
  t.doesNotThrow(() => attachment.detach(), 'detach() does not throw for one socket');
  wrapped.destroy = destroy;
  await delay(100);
  for (const socket of sockets.slice(1)) {
    t.equal(socket.destroyed, true, 'another held connection is closed, not held for good');
    t.equal(codeOf((socket as { destroyReason?: Error }).destroyReason), 'ERR_CTLS_DETACHED');
  }
});
