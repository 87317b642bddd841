// Attack (pending states are budgets / shared services isolate one caller from others): past
// maxHeldBytesTotal the server now cuts "the connections holding the most". Which connection holds
// the most is the attacker's choice: hostile clients (valid certificates) that never answer a fresh
// certificate request split what they hold over more connections, each holding less than an honest
// peer's data in flight behind its own request. They keep the server just under its ceiling for as
// long as their requests may take (reauthorize.timeout, again at every fresh round), none of them
// is ever the largest, and every honest connection with more than one hostile share in flight is
// the one cut with ERR_CTLS_HELD_LIMIT, while the hostile ones keep what they hold. This is the
// attack the largest-holder fix was for (test/attack12-held-total-victim), with eleven hostile
// connections of 0.5 MiB instead of two of 2.75 MiB.
//
// A correct library does not let the peers that hold the budget pick who is cut: it makes room by
// cutting the holders that have sat on held data longest without answering (an honest peer answers
// its request at once), or bounds what a peer's connections hold together, so the hostile holders
// go and the honest peer's bytes are all delivered.
import t from 'tap';
import { makePki, mtlsOptions, startServer, codeOf } from './helpers/mtls';
import { hostileHolders, holdsShare, honestPeerBehindRequest, MiB } from './helpers/held-budget';

const HOSTILE = 11;
const SHARE = 0.5 * MiB;

t.test('hostile holders split into small shares do not get an honest peer cut', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, { maxVersion: 'TLSv1.3', maxHeldBytes: 4 * MiB, maxHeldBytesTotal: 6 * MiB }),
  );

  // Eleven hostile peers: a request goes out to each, they never read it and send 0.5 MiB each.
  const hostile = await hostileHolders(t, server, port, pki, { peers: HOSTILE, share: SHARE, withinMs: 3_000 });
  t.ok(
    hostile.every((pair) => holdsShare(pair, SHARE)),
    'the hostile peers hold 5.5 of the 6 MiB in all, 0.5 MiB each',
  );

  // An honest peer: 1 MiB in flight when its own request goes out, which it answers at once.
  const honest = await honestPeerBehindRequest(t, server, port, pki, 1 * MiB);
  t.equal(honest.answer, true, 'the honest peer answers its request and stays');
  t.equal(honest.received.bytes, 1 * MiB, 'every byte the honest peer sent is delivered');
  t.equal(codeOf(honest.socket.destroyReason), undefined, 'the honest peer is not cut');
  t.notMatch(honest.socket.destroyReason?.message ?? '', /maxHeldBytesTotal/, 'not by the server-wide total');
});
