// The REST context hook is a pending state with a budget: contextTimeout (policyTimeout by
// default). A late hook denies the request as policy-timeout and its signal aborts; a prompt one
// is untouched.
import t from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { client, startHttps } from './helpers/policy-https';

const served = (_req: IncomingMessage, res: ServerResponse) => res.end('served');

t.test('a late context hook denies as policy-timeout, and its signal aborts', async (t) => {
  let aborted: unknown;
  const authz = authorizeRequest({
    policy: () => true,
    policyTimeout: 5_000,
    contextTimeout: 100,
    exposeReason: true,
    context: (_req, { signal }) =>
      new Promise<Record<string, unknown>>((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted = signal.reason;
          reject(signal.reason as Error);
        });
      }),
  });
  const get = client(t, await startHttps(t, authz.node(served)), 'alice');
  const started = Date.now();
  const reply = await get('GET', '/pay');
  t.equal(reply.status, 403);
  t.match(reply.body, /policy-timeout/);
  t.ok(Date.now() - started < 4_000, 'denied by contextTimeout, not policyTimeout');
  t.match(aborted, { code: 'ERR_CTLS_POLICY_TIMEOUT' }, 'the hook was told to stop');
});

t.test('by default the hook has policyTimeout', async (t) => {
  const authz = authorizeRequest({
    policy: () => true,
    policyTimeout: 100,
    exposeReason: true,
    context: () => new Promise<Record<string, unknown>>(() => {}),
  });
  const get = client(t, await startHttps(t, authz.node(served)), 'alice');
  const reply = await get('GET', '/pay');
  t.equal(reply.status, 403);
  t.match(reply.body, /policy-timeout/);
});

t.test('a prompt hook, sync or async, is used as before', async (t) => {
  for (const context of [
    () => ({ risk: 1 }),
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      return { risk: 1 };
    },
  ]) {
    const authz = authorizeRequest({
      policy: (input) => (input.context as { risk?: number }).risk === 1,
      contextTimeout: 2_000,
      context,
    });
    const get = client(t, await startHttps(t, authz.node(served)), 'alice');
    t.equal((await get('GET', '/pay')).status, 200);
  }
});

t.test('contextTimeout is checked', async (t) => {
  for (const bad of [-1, 'soon', Infinity, NaN])
    t.throws(() => authorizeRequest({ policy: () => true, contextTimeout: bad as number }), {
      code: 'ERR_CTLS_INVALID_OPTION',
    });
});

t.test('a timeout beyond what setTimeout honours still waits (it does not fire at once)', async (t) => {
  const authz = authorizeRequest({
    policy: () => true,
    policyTimeout: 2 ** 32,
    contextTimeout: 2 ** 32,
    context: async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { risk: 1 };
    },
  });
  const get = client(t, await startHttps(t, authz.node(served)), 'alice');
  t.equal((await get('GET', '/pay')).status, 200, 'a hook and a policy that answer in 20 ms are served');
});
