// Attack: while a connection is held by a decision in flight, its peer has 1024 requests waiting
// (exactly the documented limit, so none was refused). detach() then registers its own "released or
// closed" callback on the same bounded queue of waiting events: the queue is full, so detach() itself
// cuts the connection with ERR_CTLS_HELD_LIMIT ("the peer sent more than 1024 requests"), a false
// claim, and the decision in flight, which allows, never delivers them.
// A correct library keeps detach()'s bookkeeping out of the peer's budget: the connection waits for
// its decision like any other held one, and an allow hands over all 1024 requests.
// Attack class: resource limits shared between peer input and internal bookkeeping.
import t from 'tap';
import { heldByRecheck } from './helpers/attached-tls';
import { delay, codeOf } from './helpers/mtls';

t.test('detach() does not count against the peer held-request limit', async (t) => {
  const attached = await heldByRecheck(t);
  const c = attached.connection;
  const handled: number[] = [];
  attached.server.on('request', (req: { id: number }) => handled.push(req.id));
  // node's HTTP parser raises these from bytes read before the hold began.
  for (let i = 0; i < 1024; i++) attached.server.emit('request', { id: i, socket: c.socket }, {});
  t.equal(c.socket.destroyed, false, '1024 waiting requests are within the limit');
  c.attachment.detach();
  t.equal(c.socket.destroyed, false, 'detach() does not cut it');
  attached.answer(true);
  await delay(100);
  t.equal(handled.length, 1024, 'the allow hands over every waiting request');
  t.not(codeOf(c.error()), 'ERR_CTLS_HELD_LIMIT', 'not cut as over the limit');
});
