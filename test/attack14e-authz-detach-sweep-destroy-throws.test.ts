// Attack: a trust change (setCa()) asked for just before detach() now re-decides its connections
// after detach(), one hop later, in #sweep's plain loop. With no policy each re-decision is made
// and concluded synchronously inside that loop, and a denial destroys its socket right there. A
// socket whose destroy() throws (an app or instrumentation wrapper around it) throws out of the
// loop: every connection after it is never re-decided and keeps the sweep's hold. They are
// untracked after detach(), so no timer, trust change or re-check will ever decide them: they stay
// held for good (what a peer sends never reaches the app, the emit wrapper lingers for them), the
// very state detach() promises never to leave. Before the last fix close() closed them instead.
// A correct library re-decides (and, on a denial, closes) every other connection whatever one
// socket's destroy() does, as close() itself already does for the connections it cuts.
// Attack class: pending states are budgets; a failure isolated from the others.
import t from 'tap';
import type * as tls from 'node:tls';
import { attachedServer } from './helpers/attached-tls';
import { delay, makePki } from './helpers/mtls';

t.test('one throwing destroy() in a trust change swept after detach() leaves no other connection held', async (t) => {
  const server = await attachedServer(t, undefined);
  const other = await makePki();
  const sockets: tls.TLSSocket[] = [];
  for (let i = 0; i < 3; i++) sockets.push((await server.connect()).socket);
  const wrapped = sockets[0]!;
  const destroy = wrapped.destroy;
  wrapped.destroy = function () {
    throw new Error('a destroy() wrapper failed');
  };
  // The new CA does not issue the clients: each re-decision denies.
  const swept = server.attachment.setCa(other.ca.rootCert);
  swept.catch(() => {});
  server.attachment.detach();
  await delay(200);
  wrapped.destroy = destroy;
  wrapped.destroy();
  for (const socket of sockets.slice(1)) {
    t.equal(socket.destroyed, true, 'another connection the new CA denies is closed, not held for good');
  }
});
