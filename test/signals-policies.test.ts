// An identity provider's signals (input.signals, put there by a fleet's guard) are visible to every
// kind of policy: Cedar reads them as context.signals on both engines (and its declared facts name
// them, so a cache keys on them), an external decision point gets them in its JSON input, and the
// default cache key separates two inputs that differ only in their signals.
import t from 'tap';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { contextFacts, jsonInput } from '../dist/policy/facts.js';
import { defaultCacheKey } from '../dist/policy/cache-key.js';
import { makeInput } from './helpers/policy-input';

const policies = `
@id("all") permit(principal, action, resource);
@id("device") forbid(principal, action, resource) when {
  context has signals && context.signals has device && context.signals.device.current_status == "not-compliant"
};
`;

t.test('Cedar reads context.signals on both engines and declares it as a fact', async (t) => {
  for (const engine of ['auto', 'wasm'] as const) {
    const policy = cedarPolicy({ policies, engine });
    t.teardown(() => policy.close());
    const compliant = makeInput({ signals: { device: { current_status: 'compliant' } } });
    const failing = makeInput({ signals: { device: { current_status: 'not-compliant' } } });
    t.equal((await evaluatePolicy(policy, makeInput())).allow, true, `${engine}: no signals`);
    t.equal((await evaluatePolicy(policy, compliant)).allow, true, `${engine}: compliant`);
    t.equal((await evaluatePolicy(policy, failing)).allow, false, `${engine}: not compliant`);
    t.ok(policy.factsRead()?.includes('signals'), `${engine}: the signals are a declared fact`);
  }
});

t.test('decision points and the cache key see the signals', async (t) => {
  const signals = { claims: { role: 'admin' } };
  t.same(jsonInput(makeInput({ signals }))['signals'], signals);
  t.same(contextFacts(makeInput({ signals }))['signals'], signals);
  t.notOk('signals' in contextFacts(makeInput()), 'absent signals are left out');
  const a = defaultCacheKey(makeInput({ signals: { claims: { role: 'admin' } } }), []);
  const b = defaultCacheKey(makeInput({ signals: { claims: { role: 'viewer' } } }), []);
  const none = defaultCacheKey(makeInput(), []);
  t.not(a, b, 'different signals, different keys, even when the policy declares no fact');
  t.not(a, none);
});
