// Attack (lossy conversion, embedded vs remote disagree): an integer beyond 2^53 in the input (a
// 64-bit numeric user id in a token claim, `"uid": 1234567890123456789`, as snowflake-style IdPs
// issue; an account number from the app's database) is no longer the number that was sent: JSON.parse
// rounded it to the nearest double, so two different ids can arrive as one. The embedded Cedar engine
// refuses such a value for exactly this reason (ERR_CTLS_CEDAR_CONTEXT: "the integer …, beyond 2^53
// where JS numbers are not exact"), failing closed. exact-json, which promises the OPA and AuthZEN
// clients send the input "exactly or not at all", passes it: OPA compares the rounded id with its
// data (`input.token.uid == data.blocked[_]`, `data.owners[input.token.uid]`) and judges another
// user than the one the token named.
//
// A correct library refuses the request before sending (ERR_CTLS_PDP_INPUT, a denial with reason
// policy-error), as embedded Cedar does.
import t from 'tap';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { exactJson } from '../dist/policy/exact-json.js';
import { opaPolicy } from '../dist/policy/http-pdp.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';
import { fakeServer, json } from './helpers/policy-pdp';

// Two different 64-bit ids that JSON.parse makes into the same JS number.
const claims = JSON.parse('{"sub":"u","uid":1234567890123456789}') as Record<string, unknown>;
const other = JSON.parse('{"sub":"u","uid":1234567890123456800}') as Record<string, unknown>;

t.test('the rounding is real', async (t) => {
  t.equal(claims['uid'], other['uid'], 'two ids, one JS number');
});

t.test('exactJson refuses an integer beyond 2^53, as embedded Cedar does', async (t) => {
  t.throws(() => exactJson({ uid: claims['uid'] }, 'token', 'iso'), { code: 'ERR_CTLS_PDP_INPUT' });
});

t.test('OPA never receives it; the request is denied as embedded Cedar denies it', async (t) => {
  const input = certInput(certs.clientCert, 'GET', '/account', { context: { accountId: claims['uid'] } });
  const embedded = cedarPolicy({ policies: 'permit(principal, action, resource) when { context.accountId > 0 };' });
  t.teardown(() => embedded.close());
  t.match(await evaluatePolicy(embedded, input, { timeoutMs: 2_000 }), { allow: false }, 'embedded Cedar denies');

  const opa = await fakeServer(t, (_p, _b, res) => json(res, 200, { result: true }));
  const viaOpa = opaPolicy({ url: opa.url, timeoutMs: 2_000 });
  t.teardown(() => viaOpa.close());
  t.match(await evaluatePolicy(viaOpa, input, { timeoutMs: 2_000 }), { allow: false, reason: 'policy-error' });
  t.equal(opa.requests.length, 0, 'nothing reached OPA');
});
