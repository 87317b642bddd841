// Attack (cache key soundness): the default cache key lowercases the segment after ANY `headers`
// segment of a declared fact, meant for `request.headers.<name>` (node lowercases request header
// names). A policy that declares a fact under another `headers` object, such as the app's context
// `context.headers.X-Tenant` (an app copying selected headers into its context under their usual
// spelling), is keyed on `context.headers['x-tenant']`, which does not exist: every tenant shares
// one key, and the allow cached for tenant A answers tenant B.
//
// A correct key reads exactly the path the policy declared (lowercasing only the request's own
// header names), so inputs that differ in a declared fact never share a cached answer.
import t from 'tap';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput, PolicyAdapter } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

t.test('a declared context.headers.<Name> fact keys on that value', async (t) => {
  const tenantOf = (input: AuthorizationInput<object>) =>
    (input.context as { headers: Record<string, string> }).headers['X-Tenant'];
  const adapter: PolicyAdapter & { factsRead(): string[] } = {
    name: 'tenant-a-only',
    evaluate: (input) => ({ allow: tenantOf(input) === 'a', reason: 'tenant' }),
    factsRead: () => ['context.headers.X-Tenant'],
  };
  const policy = cached(adapter, new DecisionCache());
  const a = certInput(certs.clientCert, 'GET', '/orders', { context: { headers: { 'X-Tenant': 'a' } } });
  const b = certInput(certs.clientCert, 'GET', '/orders', { context: { headers: { 'X-Tenant': 'b' } } });
  t.match(await policy.evaluate(a), { allow: true });
  t.match(await policy.evaluate(b), { allow: false }, "tenant b is not served tenant a's allow");
});
