// Attack: a decision that holds the connection's data takes a hold of its own (`decision:<seq>`,
// Authorizer#decideShared) and gives it back only when it allows or the socket is gone
// (Authorizer#finish). A denial kept open (`reauthorize(socket, { destroyOnDeny: false })`) that held
// (fresh, or made after the previous decision lapsed) keeps its hold for ever: a later decision
// that allows releases its own hold and the lapse, never that one. The connection stays held
// although its current decision allows, every byte the peer sends is held until maxHeldBytes cuts
// it, and each such denial adds one more hold to the connection's hold set.
//
// A correct library ties no hold to a decision that is over: a decision that concludes (allow or
// deny) gives back its own hold, the denial being kept by the lapse hold alone, and a later
// allow opens the connection, as docs/api.md says ("until a decision allows").
//
// Attack class: exhaustion (pending state that outlives its owner: a hold of a finished decision).
import t from 'tap';
import * as tls from 'node:tls';
import { reauthorize, type AuthorizationInput } from '../dist/index.js';
import { connectPair, delay, makePki, mtlsOptions, Received, startServer } from './helpers/mtls';
import { attachedConnection } from './helpers/attached-tls';

const policy = (input: AuthorizationInput): boolean => input.context['deny'] !== true;

t.test('owned: an allow after a fresh denial kept open lets data through again', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy }));
  const pair = await connectPair(t, server, port, pki);
  const received = new Received(pair.socket);

  const denied = await reauthorize(pair.socket, { fresh: true, destroyOnDeny: false, context: { deny: true } });
  t.equal(denied.allow, false, 'the fresh re-check denies, and the connection is kept open');
  const allowed = await reauthorize(pair.socket, { context: { deny: false } });
  t.equal(allowed.allow, true, 'the next decision allows');

  pair.client.write('hello');
  await delay(300);
  t.equal(pair.socket.destroyed, false, 'the connection is open');
  t.equal(received.text(), 'hello', 'what the peer sends after the allow reaches the server');
});

t.test('attached: an allow after a fresh denial kept open lets data through again', async (t) => {
  const { socket, client } = await attachedConnection(t, policy);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));

  const denied = await reauthorize(socket as tls.TLSSocket, {
    fresh: true,
    fallback: 'revalidate',
    destroyOnDeny: false,
    context: { deny: true },
  });
  t.equal(denied.allow, false, 'the re-check denies, and the connection is kept open');
  const allowed = await reauthorize(socket as tls.TLSSocket, { context: { deny: false } });
  t.equal(allowed.allow, true, 'the next decision allows');

  client.write('hello');
  await delay(300);
  t.equal(socket.destroyed, false, 'the connection is open');
  t.equal(received, 'hello', 'what the peer sends after the allow reaches the server');
});
