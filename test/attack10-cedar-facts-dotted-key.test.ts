// Attack (cache key soundness): a Cedar policy reads a context attribute whose name contains a dot,
// `context["tenant.id"]` (valid Cedar; app contexts keyed by names like 'tenant.id' or
// 'user.role' are common when they come from flattened claims or headers). CedarPolicy.factsRead()
// declares it as the dotted path 'context.tenant.id', and the decision cache splits a declared path
// on '.', so the key walks `context.tenant` (absent) then `.id`, and never reads the attribute the
// policy judges. Every value of `context["tenant.id"]` shares one key: the allow cached for tenant
// 'a' answers the same client asking as tenant 'b'. authorizeRequest caches a Cedar policy by
// default, so this is fail-open out of the box (and the other way round, a cached denial of 'b'
// answers 'a' for the deny TTL).
//
// A correct library names a fact unambiguously (escape or refuse names holding '.', or declare the
// whole `context` / null when a name cannot be written as a path), so that two inputs that differ
// in any attribute the policy reads get different keys.
import t from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';
import { client, startHttps } from './helpers/policy-https';

const served = (_req: IncomingMessage, res: ServerResponse) => res.end('served');

t.test('a cached allow for context["tenant.id"] == "a" is not served to tenant "b"', async (t) => {
  const policy = cedarPolicy({
    policies: 'permit(principal, action, resource) when { context has "tenant.id" && context["tenant.id"] == "a" };',
  });
  t.teardown(() => policy.close());
  const authz = authorizeRequest({
    policy,
    // The tenant the client acts for, as the app resolved it for this request.
    context: (req) => ({ 'tenant.id': String(req.headers['x-tenant'] ?? '') }),
  });
  t.ok(authz.cache, 'the Cedar policy declares its facts, so it is cached by default');
  const get = client(t, await startHttps(t, authz.node(served)), 'alice');
  t.equal((await get('GET', '/orders', { 'x-tenant': 'a' })).status, 200, 'tenant a is allowed');
  t.equal((await get('GET', '/orders', { 'x-tenant': 'b' })).status, 403, "tenant b is denied, not served a's allow");
});
