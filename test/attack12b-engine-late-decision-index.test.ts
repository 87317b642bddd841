// Attack: with a guard (a fleet's revocations and signals) on a server, every decision files its
// connection in the engine's key index (Authorizer #indexState, called by #conclude). When a
// connection closes while a decision about it is still pending (a slow policy or decision point,
// a re-check with a token), the 'close' handler (#forget) takes the connection out of the index
// first, and the late decision, concluded as 'connection-closed', files it again: nothing takes it
// out any more. The index then holds the closed connection's state, its socket, its buffers and its
// chain for the life of the server. A client that opens connections and closes them while a
// re-check is pending (every re-check of a busy decision point, every `reauthorize()` on a
// connection the client drops) grows the server's memory by one connection each time.
//
// A correct library files nothing about a connection it has forgotten: a decision that concludes
// after the connection closed leaves no trace of it, so its socket can be collected.
//
// Attack class: exhaustion (per-connection state that survives its owner).
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { reauthorize, type AuthorizationInput, type Server } from '../dist/index.js';
import type { DecisionGuard, GuardFacts } from '../dist/authz/guard.js';
import { connectPair, delay, makePki, mtlsOptions, startServer, type Pki } from './helpers/mtls';
import { waitFor } from './helpers/owned';
import type { Test } from 'tap';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Indexes each peer under its token's subject, as a fleet's guard indexes subject identifiers. */
const subjectGuard: DecisionGuard = {
  generation: 0,
  judge: () => ({}),
  keys: (facts: GuardFacts) => (typeof facts.token?.['sub'] === 'string' ? [`sub:${facts.token['sub']}`] : []),
};

/** Policy answers that the test releases by hand. */
const waiting: Array<() => void> = [];
const policy = (input: AuthorizationInput): boolean | Promise<boolean> =>
  input.context['slow'] === true ? new Promise<boolean>((resolve) => waiting.push(() => resolve(true))) : true;

/** One connection whose re-check is pending when it closes; returns only a weak reference to the server side. */
async function closedDuringRecheck(t: Test, server: Server, port: number, pki: Pki): Promise<WeakRef<object>> {
  const pair = await connectPair(t, server, port, pki);
  const decided = reauthorize(pair.socket, { token: { sub: 'alice' }, context: { slow: true } });
  decided.catch(() => {});
  await delay(10);
  const closed = waitFor(pair.socket, 'close');
  pair.client.destroy();
  pair.socket.destroy();
  await closed;
  for (const release of waiting.splice(0)) release();
  await decided.catch(() => {});
  return new WeakRef(pair.socket);
}

t.test('a decision that concludes after its connection closed leaves nothing of it behind', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy }));
  server.authorizer.addGuard(subjectGuard);

  const ROUNDS = 10;
  const refs: Array<WeakRef<object>> = [];
  for (let i = 0; i < ROUNDS; i++) refs.push(await closedDuringRecheck(t, server, port, pki));
  await delay(50);
  t.equal(server.authorizer.connectionCount, 0, 'the engine tracks no connection');
  for (let i = 0; i < 5; i++) {
    gc();
    await delay(10);
  }
  const alive = refs.filter((ref) => ref.deref() !== undefined).length;
  t.ok(alive <= 1, `the closed connections are collected (${alive} of ${ROUNDS} still reachable)`);
});
