// Attack (cache key soundness, lossy conversion): the decision cache keys an input by encoding its
// values, and that encoding walks Object.keys(). A Date, a Map or a Set has no own enumerable keys,
// so every Date encodes as `{}`, every Set as `{}`: two requests whose context differs only in such a
// value share one cache key. The embedded Cedar engine, though, reads a Date (it converts it to its
// epoch milliseconds, values.ts), and a function policy can read a Set's members. So a cached allow
// made for `context.lockedUntil = <the past>` answers a request whose `lockedUntil` is in the
// future, and a cached allow for `roles = Set{'admin'}` answers `roles = Set{}`: fail-open, for the
// whole allow TTL (60 s by default), and authorizeRequest puts a Cedar policy behind a cache by default.
//
// A correct library keys every value a policy can read by its contents (a Date by its time value,
// a Map/Set by its entries), or refuses to cache an input holding a value it cannot key (the key
// returns undefined / throws, and the policy is asked).
import t from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { client, startHttps } from './helpers/policy-https';
import { certInput } from './helpers/policy-input';

const served = (_req: IncomingMessage, res: ServerResponse) => res.end('served');
const NOW = Date.UTC(2026, 0, 1);

t.test('REST + Cedar: a cached allow for one Date is not served for another', async (t) => {
  // An account lock the app reads per request (from its database) into the context.
  const lockedUntil = new Map<string, Date>([['/pay', new Date(NOW - 60_000)]]);
  const policy = cedarPolicy({
    policies: `permit(principal, action, resource) when { context.lockedUntil < ${NOW} };`,
  });
  t.teardown(() => policy.close());
  t.not(policy.factsRead(), null, 'the Cedar set declares its facts, so authorizeRequest caches it');
  const authz = authorizeRequest({
    policy,
    context: () => ({ lockedUntil: lockedUntil.get('/pay')! }),
  });
  t.ok(authz.cache, 'a cache by default');
  const get = client(t, await startHttps(t, authz.node(served)), 'alice');
  t.equal((await get('GET', '/pay')).status, 200, 'not locked: allowed');
  // The account is locked now, until an hour from NOW.
  lockedUntil.set('/pay', new Date(NOW + 3_600_000));
  t.equal(
    policy.evaluate(
      Object.assign(certInput(certs.clientCert, 'GET', '/pay'), {
        context: { lockedUntil: lockedUntil.get('/pay')! },
      }),
    ).allow,
    false,
    'Cedar itself denies the locked account',
  );
  t.equal((await get('GET', '/pay')).status, 403, 'the locked account is denied, not served the cached allow');
});

t.test('cached(function): a Set or a Map in the context is keyed by its contents', async (t) => {
  const policy = cached((input: AuthorizationInput) => {
    const roles = (input.context as { roles: Set<string> }).roles;
    return { allow: roles.has('admin'), reason: 'roles' };
  }, new DecisionCache());
  const admin = certInput(certs.clientCert, 'DELETE', '/users/1', { context: { roles: new Set(['admin']) } });
  const user = certInput(certs.clientCert, 'DELETE', '/users/1', { context: { roles: new Set(['user']) } });
  t.match(await policy.evaluate(admin), { allow: true });
  t.match(await policy.evaluate(user), { allow: false }, 'a non-admin is not served the admin allow');

  const byMap = cached((input: AuthorizationInput) => {
    const flags = (input.context as { flags: Map<string, boolean> }).flags;
    return { allow: flags.get('enabled') === true, reason: 'flags' };
  }, new DecisionCache());
  const on = certInput(certs.clientCert, 'GET', '/f', { context: { flags: new Map([['enabled', true]]) } });
  const off = certInput(certs.clientCert, 'GET', '/f', { context: { flags: new Map([['enabled', false]]) } });
  t.match(await byMap.evaluate(on), { allow: true });
  t.match(await byMap.evaluate(off), { allow: false }, 'a disabled flag is not served the enabled allow');
});
