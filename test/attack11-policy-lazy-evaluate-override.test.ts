// Attack (paths around the gate): evaluatePolicy now asks an adapter through its
// kEvaluateLazily method whenever it has one, instead of evaluate(), and the adapter cached()
// returns carries that method as an own property that calls the cache directly. An app that wraps
// or instruments a cached policy the ordinary JavaScript ways, by overriding `evaluate`:
//  - `{ ...cached(p), evaluate(input, signal) { … } }` (object spread copies the symbol-keyed
//    method too), or
//  - replacing `evaluate` on the adapter in place (a shimmer-style audit or kill-switch wrapper),
// has its evaluate() never called by the library: the step-up check below is skipped and a request
// without MFA is allowed by the inner cached policy. (With the former fast path this happened only
// on a cache hit; now it happens on every call, the very first miss included.)
//
// A correct library asks the adapter what its evaluate() answers: the lazy path may only stand in
// for the evaluate() it was made with, never for one the app put in its place.
import t from 'tap';
import { cached, DecisionCache, evaluatePolicy } from '../dist/policy/index.js';
import type { AuthorizationInput, PolicyAdapter } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

// The inner policy allows the certificate holder; the wrapper adds a step-up requirement.
const inner: PolicyAdapter = { name: 'holder', evaluate: () => ({ allow: true, reason: 'holder' }) };
const withoutMfa = () => certInput(certs.clientCert, 'POST', '/payments', { context: { mfa: false } });
const stepUp = (input: AuthorizationInput<object>, next: () => unknown) =>
  (input.context as { mfa?: boolean }).mfa === true ? next() : { allow: false, reason: 'mfa-required' };

t.test('an adapter spread from cached() with its own evaluate is asked through that evaluate', async (t) => {
  const base = cached(inner, new DecisionCache());
  const policy: PolicyAdapter = {
    ...base,
    name: 'step-up(holder)',
    evaluate: (input, signal) => stepUp(input, () => base.evaluate(input, signal)) as never,
  };
  const d = await evaluatePolicy(policy, withoutMfa());
  t.equal(d.allow, false, 'the request without MFA is denied by the wrapper');
  t.equal(d.reason, 'mfa-required');
});

t.test('an evaluate replaced on a cached() adapter is the one evaluatePolicy asks', async (t) => {
  const policy = cached(inner, new DecisionCache());
  const original = policy.evaluate.bind(policy);
  (policy as { evaluate: PolicyAdapter['evaluate'] }).evaluate = (input, signal) =>
    stepUp(input, () => original(input, signal)) as never;
  const d = await evaluatePolicy(policy, withoutMfa());
  t.equal(d.allow, false, 'the request without MFA is denied by the replaced evaluate');
  t.equal(d.reason, 'mfa-required');
});
