// Attack (lossy conversion, embedded vs remote disagree): the OPA and AuthZEN clients now send the
// input "exactly or not at all" (exact-json), but a string holding a lone UTF-16 surrogate (from a
// token claim such as `"sub":"admin\ud800"`, which JSON.parse accepts, or from a client-supplied
// JSON body the app copies into its context) still goes out. JSON.stringify writes it as the escape
// `\ud800`, and a standard decoder at the decision point (Go's encoding/json in OPA, serde in Rust
// AuthZEN servers) replaces it with U+FFFD: "admin\ud800", "admin\udbff" and "admin\ufffd" all
// arrive as one string, so a rule keyed on the exact value (`deny if input.token.sub ==
// "admin\ufffd"`, an allow list, a lookup in data) judges a different string from the one the app
// had. The embedded Cedar engine refuses exactly this value (ERR_CTLS_CEDAR_CONTEXT: "a string with
// a lone surrogate (not valid UTF-8)"), in values and in keys; the remote path does not.
//
// A correct library refuses the request before sending (ERR_CTLS_PDP_INPUT, a denial with reason
// policy-error), as it does for undefined or NaN, and as embedded Cedar does.
import t from 'tap';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { exactJson } from '../dist/policy/exact-json.js';
import { authzenPolicy, opaPolicy } from '../dist/policy/http-pdp.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';
import { fakeServer, json } from './helpers/policy-pdp';

t.test('exactJson refuses a lone surrogate in a value and in a key', async (t) => {
  t.throws(() => exactJson({ user: 'admin\ud800' }, 'context', 'iso'), { code: 'ERR_CTLS_PDP_INPUT' });
  t.throws(() => exactJson({ ['role\udc00']: true }, 'context', 'iso'), { code: 'ERR_CTLS_PDP_INPUT' });
});

t.test('embedded Cedar refuses it; OPA and AuthZEN must not receive it', async (t) => {
  const context = { user: 'admin\ud800' };
  const input = certInput(certs.clientCert, 'GET', '/pay', { context });
  const embedded = cedarPolicy({ policies: 'permit(principal, action, resource);' });
  t.teardown(() => embedded.close());
  t.match(await evaluatePolicy(embedded, input, { timeoutMs: 2_000 }), { allow: false }, 'embedded Cedar denies');

  const opa = await fakeServer(t, (_p, _b, res) => json(res, 200, { result: true }));
  const viaOpa = opaPolicy({ url: opa.url, timeoutMs: 2_000 });
  t.teardown(() => viaOpa.close());
  t.match(await evaluatePolicy(viaOpa, input, { timeoutMs: 2_000 }), { allow: false, reason: 'policy-error' });
  t.equal(opa.requests.length, 0, 'nothing reached OPA');

  const pdp = await fakeServer(t, (_p, _b, res) => json(res, 200, { decision: true }));
  const viaAuthzen = authzenPolicy({ url: pdp.url, timeoutMs: 2_000 });
  t.teardown(() => viaAuthzen.close());
  t.match(await evaluatePolicy(viaAuthzen, input, { timeoutMs: 2_000 }), { allow: false, reason: 'policy-error' });
  t.equal(pdp.requests.length, 0, 'nothing reached the AuthZEN decision point');
});
