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
import type * as tls from 'node:tls';
import { reauthorize } from '../dist/index.js';
import { attachedServer } from './helpers/attached-tls';
import { delay, codeOf } from './helpers/mtls';

t.test('one socket whose destroy() throws does not leave the other held connections held for good', async (t) => {
  let allow = true;
  const server = await attachedServer(t, () => allow);
  const sockets: tls.TLSSocket[] = [];
  for (let i = 0; i < 3; i++) sockets.push((await server.connect()).socket);
  const attachment = server.attachment;
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
