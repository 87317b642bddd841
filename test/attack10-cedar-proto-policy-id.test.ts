// Attack (prototype keys): Cedar policies are collected by id into a plain object
// (`staticPolicies[id] = text`), the id being the policy's `@id("…")` annotation. A policy
// annotated `@id("__proto__")` is assigned to the object's prototype slot; assigning a string there
// is silently ignored, so that policy never reaches Cedar: a `forbid` so named is dropped without
// an error or a warning, and every request it should block is allowed. Whoever can add a policy
// file (a tenant's policy directory, a reviewed-by-diff policy repository) can disable a forbid by
// its name alone, and the operator reading the file sees the forbid in place.
//
// A correct library keeps every policy it parsed (a null-prototype object or a Map, or it refuses
// the id), so the loaded set has exactly the policies the text has.
import t from 'tap';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';

const request = {
  principal: { type: 'User', id: 'mallory' },
  action: { type: 'Action', id: 'GET' },
  resource: { type: 'Resource', id: '/admin' },
  context: {},
};

for (const engine of ['auto', 'wasm'] as const) {
  t.test(`a forbid annotated @id("__proto__") still forbids (engine ${engine})`, async (t) => {
    let policy;
    try {
      policy = cedarPolicy({
        engine,
        policies: `
          @id("allow-all") permit(principal, action, resource);
          @id("__proto__") forbid(principal, action, resource == Resource::"/admin");
        `,
      });
    } catch (err) {
      t.match(err, { code: 'ERR_CTLS_CEDAR' }, 'refused at load: fine');
      return;
    }
    t.teardown(() => policy.close());
    t.equal(policy.policyIds.length, 2, 'both policies are loaded');
    t.equal(policy.authorize(request).allow, false, 'the forbid applies');
  });
}
