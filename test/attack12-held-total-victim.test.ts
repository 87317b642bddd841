// Attack (pending states are budgets / shared services isolate one caller from others): the
// server-wide maxHeldBytesTotal cuts "the connection whose data would take the total past it", not
// the connections that hold the total. Hostile clients (valid certificates) that never answer a
// fresh certificate request each hold just under maxHeldBytes; together they keep the server at its
// ceiling for as long as the request may take (reauthorize.timeout, again at every fresh round).
// Every honest connection that then has data in flight behind its own request (or behind its first
// decision) is cut with ERR_CTLS_HELD_LIMIT, while the hostile ones keep what they hold: the
// budget meant to protect the server becomes a way to disconnect its honest peers, and the
// attackers pay nothing for it since none of them crossed its own limit.
//
// A correct library keeps a connection that holds no more than its share of the budget (here: a
// third of it, with three connections holding) alive, and makes room by cutting the connections
// that hold the most (or bounds each connection's share), so the hostile holders are the ones cut.
import t from 'tap';
import { makePki, mtlsOptions, startServer, codeOf } from './helpers/mtls';
import { hostileHolders, holdsShare, honestPeerBehindRequest, MiB } from './helpers/held-budget';

t.test('an honest peer holding a small share is not cut because hostile peers hold the rest', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, { maxVersion: 'TLSv1.3', maxHeldBytes: 4 * MiB, maxHeldBytesTotal: 6 * MiB }),
  );

  // Two hostile peers: a request goes out to each, they never read it and send 2.75 MiB each.
  const hostile = await hostileHolders(t, server, port, pki, { peers: 2, share: 2.75 * MiB, withinMs: 5_000 });
  t.ok(
    hostile.every((pair) => holdsShare(pair, 2.75 * MiB)),
    'each hostile peer holds under its own maxHeldBytes: 5.5 of the 6 MiB in all',
  );

  // An honest peer: 1 MiB in flight when its own request goes out, which it answers at once.
  const honest = await honestPeerBehindRequest(t, server, port, pki, 1 * MiB);
  t.equal(honest.answer, true, 'the honest peer answers its request and stays');
  t.equal(honest.received.bytes, 1 * MiB, 'every byte the honest peer sent is delivered');
  t.equal(codeOf(honest.socket.destroyReason), undefined, 'the honest peer is not cut');
  t.notMatch(honest.socket.destroyReason?.message ?? '', /maxHeldBytesTotal/, 'not by the server-wide total');
});
