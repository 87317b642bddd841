// Attack (cache key soundness): the whole-input cache key (a policy that declares no factsRead(),
// given a DecisionCache) now skips its hidden-state checks on the `request` part of inputs that
// authorizeRequest built, on the premise that `request.headers` is node's plain parsed data. But it
// is `req.headers` itself, the live object every earlier middleware can write to. A middleware that
// records what it resolved on it without printing it in header dumps (a non-enumerable property,
// or a symbol key: the usual way to keep a derived value out of logs) puts state there that the
// policy reads and the key does not spell. Below, a gateway middleware resolves the caller's role
// and stores it non-enumerably; the admin's allow is cached, and a guest's request with the same
// visible headers is then served that allow. Before the skip, such an input was Uncacheable and
// decided by the policy every time.
//
// A correct library refuses to key (decides uncached) any part of the input it cannot spell
// exactly, whoever built the input: hidden own properties on the request's headers included.
import t from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { DecisionCache } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { client, startHttps } from './helpers/policy-https';

const kRole = Symbol('gateway.role');

for (const how of ['non-enumerable', 'symbol-keyed'] as const) {
  t.test(`a ${how} property a middleware put on req.headers is keyed`, async (t) => {
    // The connection's age is part of the whole-input key: hold the clock so two requests can meet.
    const realNow = Date.now;
    const frozen = realNow();
    Date.now = () => frozen;
    t.teardown(() => {
      Date.now = realNow;
    });
    let asked = 0;
    const policy = (input: AuthorizationInput) => {
      asked++;
      const headers = input.request!.headers as Record<string | symbol, unknown>;
      const role = how === 'symbol-keyed' ? headers[kRole] : headers['x-role'];
      return { allow: role === 'admin', reason: `role ${String(role)}` };
    };
    const authz = authorizeRequest({ policy, cache: new DecisionCache() });
    const handler = authz.node((_req: IncomingMessage, res: ServerResponse) => res.end('deleted'));
    // The gateway middleware that runs before authorization (Express: app.use before authz.express()).
    const gateway = (req: IncomingMessage, res: ServerResponse) => {
      const role = req.headers['x-api-key'] === 'admin-key' ? 'admin' : 'guest';
      if (how === 'symbol-keyed') (req.headers as Record<symbol, unknown>)[kRole] = role;
      else Object.defineProperty(req.headers, 'x-role', { value: role, enumerable: false });
      delete req.headers['x-api-key']; // a secret is not left in the headers
      handler(req, res);
    };
    const del = client(t, await startHttps(t, gateway), 'alice');
    t.equal((await del('DELETE', '/users/7', { 'x-api-key': 'admin-key' })).status, 200, 'the admin is allowed');
    const guest = await del('DELETE', '/users/7', { 'x-api-key': 'guest-key' });
    t.equal(guest.status, 403, "a guest is not served the admin's cached allow");
    t.equal(asked, 2, 'the policy was asked about the guest');
  });
}
