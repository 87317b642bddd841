// Attack (pending states are budgets): authorizeRequest bounds the policy by `policyTimeout` (fail
// closed after 200 ms by default), but the async `context(req)` hook that gathers the policy's
// signals (a risk score, a device posture lookup: the usual remote call) runs before it with no
// bound at all. When that service hangs, or a client finds a request shape that makes it slow, every
// request waits forever instead of being denied: requests, their sockets and their buffers pile up
// (authz.pendingDecisions only grows), and the API stops answering while reporting nothing.
//
// A correct library counts the context hook against the decision's time budget (policyTimeout, or
// a bound of its own) and denies the request (fail closed, as a throwing hook is) when it is late.
import t from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { client, startHttps } from './helpers/policy-https';

const served = (_req: IncomingMessage, res: ServerResponse) => res.end('served');

t.test('a context hook that never settles does not keep the request undecided', async (t) => {
  const authz = authorizeRequest({
    policy: () => true,
    policyTimeout: 100,
    // The risk service never answers.
    context: () => new Promise<Record<string, unknown>>(() => {}),
  });
  const get = client(t, await startHttps(t, authz.node(served)), 'alice');
  const answered = get('GET', '/pay').then((r) => r.status);
  const late = new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 1500).unref());
  const status = await Promise.race([answered, late]);
  t.not(status, 'pending', 'the request is answered within the decision budget');
  t.not(status, 200, 'and it is not allowed without its signals');
});
