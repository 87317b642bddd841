// What goes to an external decision point is the input exactly, or nothing: a value JSON would
// drop, retype or empty (undefined, NaN, a Map …) refuses the request with ERR_CTLS_PDP_INPUT
// before anything is sent, so a rule about that value can never be skipped on a lossy copy.
import t from 'tap';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { exactJson } from '../dist/policy/exact-json.js';
import { authzenPolicy, opaPolicy } from '../dist/policy/http-pdp.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';
import { fakeServer, json } from './helpers/policy-pdp';

const cycle: Record<string, unknown> = {};
cycle['self'] = cycle;
const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
let deep: unknown = 1;
for (let i = 0; i < 70; i++) deep = { d: deep };
/** `fan` references to the same node, `depth` times over: tiny in memory, fan^depth paths. */
function dagOf(fan: number, depth: number): unknown {
  let node: unknown = { name: 'group' };
  for (let i = 0; i < depth; i++) node = Array.from({ length: fan }, () => node);
  return { groups: node };
}

const refused: Array<[string, unknown, RegExp]> = [
  ['undefined', { risk: undefined }, /context\.risk is undefined/],
  ['NaN', { risk: NaN }, /context\.risk is NaN/],
  ['Infinity', { risk: -Infinity }, /context\.risk is -Infinity/],
  ['a bigint', { n: 1n }, /context\.n is a value of type bigint/],
  ['a function', { f: () => 1 }, /context\.f is a value of type function/],
  ['a symbol', { s: Symbol('x') }, /context\.s is a value of type symbol/],
  ['a Map', { roles: new Map([['a', 1]]) }, /context\.roles is an instance of Map/],
  ['a Set', { roles: new Set(['admin']) }, /context\.roles is an instance of Set/],
  ['a class instance', { at: new (class Session {})() }, /context\.at is an instance of Session/],
  ['an undefined array item', { list: [1, undefined] }, /context\.list\[1\] is undefined/],
  ['a hole', { list: sparse }, /context\.list\[1\] is a hole/],
  ['an invalid Date', { at: new Date(NaN) }, /context\.at is an invalid Date/],
  ['a cycle', cycle, /context\.self is a cycle/],
  ['deep nesting', deep, /nesting deeper than 64/],
  ['a lone surrogate', { name: 'admin\ud800' }, /context\.name is a string with a lone surrogate/],
  ['a key with a lone surrogate', { ['k\udc00']: 1 }, /a key with a lone surrogate/],
  ['an integer beyond 2^53', { id: 2 ** 53 + 2 }, /context\.id is the integer 9007199254740994/],
  ['a shared-object graph of 2^20 paths', dagOf(2, 20), /past 100000 values in one request/],
];

for (const [name, value, message] of refused) {
  t.test(`refused: ${name}`, async (t) => {
    t.throws(() => exactJson(value, 'context', 'iso'), { code: 'ERR_CTLS_PDP_INPUT', message });
  });
}

t.test('passes: JSON values as they are, Dates in the chosen form, __proto__ as a plain key', async (t) => {
  const value = JSON.parse('{"a":[1,"x",true,null,{"b":-0.5}],"__proto__":{"c":1}}') as Record<string, unknown>;
  const copy = exactJson(value, 'context', 'iso') as Record<string, unknown>;
  t.equal(JSON.stringify(copy), JSON.stringify(value), 'the same JSON');
  t.ok(Object.prototype.hasOwnProperty.call(copy, '__proto__'), '__proto__ is an own key of the copy');
  t.equal(Object.getPrototypeOf(copy), Object.prototype, 'and not its prototype');
  const at = new Date(Date.UTC(2026, 0, 1));
  t.same(exactJson({ at }, 'context', 'epoch-ms'), { at: at.getTime() });
  t.same(exactJson({ at }, 'context', 'iso'), { at: '2026-01-01T00:00:00.000Z' });
  t.same(exactJson(Object.assign(Object.create(null) as object, { a: 1 }), 'context', 'iso'), { a: 1 });
  t.same(
    exactJson({ id: Number.MAX_SAFE_INTEGER, f: 0.25, e: '\ud83d\ude00' }, 'c', 'iso'),
    {
      id: Number.MAX_SAFE_INTEGER,
      f: 0.25,
      e: '\u{1f600}',
    },
    'the largest exact integer, a fraction, a surrogate pair',
  );
  const shared = { x: 1 };
  t.same(exactJson({ a: shared, b: shared }, 'context', 'iso'), { a: { x: 1 }, b: { x: 1 } }, 'shared, not a cycle');
});

t.test('OPA: a lossy context is never sent, and the decision is a denial', async (t) => {
  const opa = await fakeServer(t, (_p, _b, res) => json(res, 200, { result: true }));
  const policy = opaPolicy({ url: opa.url, timeoutMs: 2_000 });
  t.teardown(() => policy.close());
  const lossy = certInput(certs.clientCert, 'GET', '/pay', { context: { blocked: new Set(['alice']) } });
  const decision = await evaluatePolicy(policy, lossy, { timeoutMs: 2_000 });
  t.match(decision, { allow: false, reason: 'policy-error' });
  t.equal(opa.requests.length, 0, 'nothing reached OPA');

  const at = new Date(Date.UTC(2026, 0, 1));
  const fine = certInput(certs.clientCert, 'GET', '/pay', { context: { lockedUntil: at } });
  t.match(await evaluatePolicy(policy, fine, { timeoutMs: 2_000 }), { allow: true });
  t.match(opa.requests[0]!.body, { input: { context: { lockedUntil: '2026-01-01T00:00:00.000Z' } } });
});

t.test('AuthZEN: a lossy context is never sent; a Date goes as epoch ms', async (t) => {
  const pdp = await fakeServer(t, (_p, _b, res) => json(res, 200, { decision: true }));
  const policy = authzenPolicy({ url: pdp.url, timeoutMs: 2_000 });
  t.teardown(() => policy.close());
  const lossy = certInput(certs.clientCert, 'GET', '/pay', { context: { risk: undefined } });
  t.match(await evaluatePolicy(policy, lossy, { timeoutMs: 2_000 }), { allow: false, reason: 'policy-error' });
  t.equal(pdp.requests.length, 0, 'nothing reached the decision point');

  const at = new Date(Date.UTC(2026, 0, 1));
  const fine = certInput(certs.clientCert, 'GET', '/pay', { context: { lockedUntil: at } });
  t.match(await evaluatePolicy(policy, fine, { timeoutMs: 2_000 }), { allow: true });
  t.match(pdp.requests[0]!.body, { context: { lockedUntil: at.getTime() } });
});

t.test('OPA: a request header named __proto__ reaches the decision point as a header', async (t) => {
  const opa = await fakeServer(t, (_p, _b, res) => json(res, 200, { result: true }));
  const policy = opaPolicy({ url: opa.url, timeoutMs: 2_000 });
  t.teardown(() => policy.close());
  const input = certInput(certs.clientCert, 'GET', '/pay');
  input.request!.headers = JSON.parse('{"__proto__":"x","x-a":"1"}') as Record<string, string>;
  t.match(await evaluatePolicy(policy, input, { timeoutMs: 2_000 }), { allow: true });
  const sent = opa.requests[0]!.body as { input: { request: { headers: Record<string, unknown> } } };
  t.ok(Object.prototype.hasOwnProperty.call(sent.input.request.headers, '__proto__'), 'the header arrived');
});
