// evaluatePolicy makes an adapter's AbortController only when the adapter needs one: never for a
// Cedar decision or a cache hit. That shortcut is tied to the adapter's own evaluate(): an
// evaluate() an app overrides or wraps is always the one called, with a signal the timeout aborts.
import t from 'tap';
import { CedarPolicy, cedarPolicy } from '../dist/policy/cedar/policy.js';
import { cached } from '../dist/policy/cache.js';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';
import { countAbortControllers } from './helpers/abort-controllers';

const POLICIES = 'permit(principal, action, resource);';

t.test('a Cedar decision makes no AbortController', async (t) => {
  const made = countAbortControllers(t);
  const policy = cedarPolicy({ policies: POLICIES });
  t.teardown(() => policy.close());
  t.match(await evaluatePolicy(policy, certInput(certs.clientCert, 'GET', '/a')), { allow: true });
  t.equal(made(), 0);
});

t.test("a Cedar subclass's own evaluate() is called, with a signal", async (t) => {
  const signals: Array<AbortSignal | undefined> = [];
  class Audited extends CedarPolicy {
    override evaluate(input: AuthorizationInput, signal?: AbortSignal) {
      signals.push(signal);
      return super.evaluate(input);
    }
  }
  const policy = new Audited({ policies: POLICIES });
  t.teardown(() => policy.close());
  t.match(await evaluatePolicy(policy, certInput(certs.clientCert, 'GET', '/a')), { allow: true });
  t.equal(signals.length, 1);
  t.type(signals[0], AbortSignal);
});

t.test('an evaluate() wrapped over a cached adapter is called on hits and misses alike', async (t) => {
  const inner = cached(() => ({ allow: true, ttlMs: 60_000 }));
  let calls = 0;
  const wrapped = {
    ...inner,
    evaluate(input: AuthorizationInput, signal?: AbortSignal) {
      calls++;
      return inner.evaluate(input, signal);
    },
  };
  const input = certInput(certs.clientCert, 'GET', '/a');
  t.match(await evaluatePolicy(wrapped, input), { allow: true });
  t.match(await evaluatePolicy(wrapped, input), { allow: true });
  t.equal(calls, 2, 'both went through the wrapper');
  t.match(inner.cache.stats(), { hits: 1, misses: 1 }, 'and the cache behind it still answered the second');
});
