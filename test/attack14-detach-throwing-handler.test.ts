// Attack: two requests wait for a connection held by a decision in flight at detach(). The decision
// allows; the app's handler throws on the first one (any app bug, or a peer-chosen request that
// triggers one). The exception unwinds out of the release loop: the second request is dropped from
// the queue and never handed to any handler (its client waits for good), the lingering wrapper's own
// "released" callback is dropped too so emit is never put back while the connection lives, and the
// exception surfaces as an unhandled promise rejection from the authorizer (a process crash under
// Node's default --unhandled-rejections=throw) instead of as it would from node's own emit.
// A correct library delivers each waiting request independently (a throwing listener surfaces on its
// own, as from node's emit), hands over the second one, and restores emit.
// (The stranded request and the rejection also happen without detach(), from the attached tier's
// release of held events; detach() adds the wrapper left on emit.)
// Attack class: exception safety in deferred-delivery queues (one failure starving the rest).
import t from 'tap';
import { heldByRecheck } from './helpers/attached-tls';
import { delay } from './helpers/mtls';

t.test('a throwing handler for one deferred request does not strand the rest', async (t) => {
  const attached = await heldByRecheck(t);
  const c = attached.connection;
  const nodeEmit = Object.getPrototypeOf(attached.server).emit;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => void rejections.push(reason);
  const onException = (): void => {};
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  t.teardown(() => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  });
  const handled: string[] = [];
  attached.server.on('request', (req: { id: string }) => {
    handled.push(req.id);
    if (req.id === 'one') throw new Error('app bug');
  });
  attached.server.emit('request', { id: 'one', socket: c.socket }, {});
  attached.server.emit('request', { id: 'two', socket: c.socket }, {});
  c.attachment.detach();
  attached.answer(true);
  await delay(100);
  t.same(handled, ['one', 'two'], 'the second request is handed over too');
  t.equal(attached.server.emit, nodeEmit, 'node emit is back once released');
  t.same(rejections, [], 'no unhandled rejection out of the authorizer');
});

t.test('without detach(): a throwing handler for one request neither strands the next nor rejects', async (t) => {
  const attached = await heldByRecheck(t);
  const c = attached.connection;
  const rejections: unknown[] = [];
  const exceptions: unknown[] = [];
  const onRejection = (reason: unknown): void => void rejections.push(reason);
  const onException = (error: unknown): void => void exceptions.push(error);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  t.teardown(() => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  });
  const handled: string[] = [];
  attached.server.on('request', (req: { id: string }) => {
    handled.push(req.id);
    if (req.id === 'one') throw new Error('app bug');
  });
  attached.server.emit('request', { id: 'one', socket: c.socket }, {});
  attached.server.emit('request', { id: 'two', socket: c.socket }, {});
  attached.answer(true);
  await delay(100);
  t.same(handled, ['one', 'two'], 'the second request is handed over too');
  t.same(rejections, [], 'no unhandled rejection out of the authorizer');
  t.match(exceptions, [{ message: 'app bug' }], "the handler's exception surfaces as from node's emit");
  t.equal(c.socket.destroyed, false, 'the connection stays');
});
