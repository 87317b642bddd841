// Attack (lossy conversion): exact-json promises the OPA and AuthZEN clients send the input "exactly
// or not at all", refusing (ERR_CTLS_PDP_INPUT) what JSON would drop or retype: undefined, NaN, a
// Map, a class instance, a hole in an array. An array's named own properties are dropped by JSON
// as silently as an undefined attribute is, and exact-json copies only the elements:
// `groups.primary = 'suspended'` (or a RegExp match's `groups`/`index`, or a getter on an
// Array subclass, itself a class instance that is otherwise refused) never reaches the decision
// point. A deny rule on it (`deny if input.context.groups.primary == "suspended"`) meets an absent
// attribute, does not apply, and the request is allowed where the app's value would have denied it.
//
// A correct library refuses such an array before sending (ERR_CTLS_PDP_INPUT: the request is
// denied with reason policy-error), as it refuses a Map or a hole; likewise an Array subclass
// instance, as any other class instance.
import t from 'tap';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { exactJson } from '../dist/policy/exact-json.js';
import { opaPolicy } from '../dist/policy/http-pdp.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';
import { fakeServer, json } from './helpers/policy-pdp';

const groups = Object.assign(['staff'], { primary: 'suspended' });

class Groups extends Array<string> {
  get suspended(): boolean {
    return true;
  }
}

t.test('exactJson refuses an array with a named own property', async (t) => {
  t.throws(() => exactJson({ groups }, 'context', 'iso'), { code: 'ERR_CTLS_PDP_INPUT' });
});

t.test('exactJson refuses an Array subclass instance, as any class instance', async (t) => {
  t.throws(() => exactJson({ groups: Groups.from(['staff']) }, 'context', 'iso'), { code: 'ERR_CTLS_PDP_INPUT' });
});

t.test('OPA never receives the array without its named property', async (t) => {
  const opa = await fakeServer(t, (_p, body, res) => {
    // deny if input.context.groups.primary == "suspended"
    const primary = (body as { input?: { context?: { groups?: { primary?: unknown } } } }).input?.context?.groups
      ?.primary;
    json(res, 200, { result: primary !== 'suspended' });
  });
  const viaOpa = opaPolicy({ url: opa.url, timeoutMs: 2_000 });
  t.teardown(() => viaOpa.close());
  const input = certInput(certs.clientCert, 'GET', '/account', { context: { groups } });
  t.match(await evaluatePolicy(viaOpa, input, { timeoutMs: 2_000 }), { allow: false });
});
