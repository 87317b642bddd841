// The two exact converters (the JSON for external decision points, the values for embedded Cedar)
// share one set of admission rules. Checked as a property on random values, hostile kinds included:
// both accept or both refuse, for the same reason at the same path, and what they accept comes out
// as the value itself. The differences they have on purpose (null, fractions, bigints, Cedar's
// escapes, the limits) are checked on examples.
import assert from 'node:assert';
import fc from 'fast-check';
import t from 'tap';
import { toCedarRecord, toCedarValue } from '../dist/policy/cedar/values.js';
import { exactJson } from '../dist/policy/exact-json.js';

const RUNS = Number(process.env['CTLS_PROPERTY_RUNS'] ?? 300);
/** The JSON budget, given to Cedar too so that the two refuse a shared-object graph alike. */
const BUDGET = 100_000;

type Outcome = { ok: true; out: unknown } | { ok: false; path: string; what: string };

/** What a refusal says, without the limits' numbers and the budget's wording, which differ on purpose. */
const reason = (what: string): string =>
  what
    .replace(/^nesting deeper than \d+$/, 'nesting too deep')
    .replace(/^(past|more than) \d+ values in one (request|record)$/, 'over the budget');

function outcome(convert: () => unknown, tail: string): Outcome {
  try {
    return { ok: true, out: convert() };
  } catch (e) {
    const { code, message } = e as { code?: string; message: string };
    if (code !== 'ERR_CTLS_PDP_INPUT' && code !== 'ERR_CTLS_CEDAR_CONTEXT') throw e;
    const at = message.indexOf(' is ');
    return { ok: false, path: message.slice(0, at), what: reason(message.slice(at + 4, message.lastIndexOf(tail))) };
  }
}

const asJson = (value: unknown, dates: 'iso' | 'epoch-ms' = 'iso'): Outcome =>
  outcome(() => exactJson(value, 'context', dates), ': JSON cannot carry it exactly');
const asCedar = (value: unknown, fractions: 'deny' | 'decimal' = 'deny'): Outcome => {
  const result = outcome(
    () => toCedarValue(value, { maxValues: BUDGET, fractions }, 'context'),
    ': Cedar cannot hold it exactly',
  );
  // Cedar quotes a key that is not an identifier (`context["x y"]`), JSON's path does not.
  if (!result.ok)
    result.path = result.path.replace(/\["((?:[^"\\]|\\.)*)"\]/g, (_m, key: string) => `.${JSON.parse(`"${key}"`)}`);
  return result;
};

/** A record whose keys are data: `__proto__` an own key, as JSON.parse makes it. */
function record(entries: Array<[string, unknown]>, proto: object | null = Object.prototype): Record<string, unknown> {
  const out = Object.create(proto) as Record<string, unknown>;
  for (const [key, value] of entries)
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

/** `fan` references to one node, `depth` times over: tiny in memory, fan^depth paths. */
function dagOf(fan: number, depth: number): unknown {
  let node: unknown = { name: 'group' };
  for (let i = 0; i < depth; i++) node = Array.from({ length: fan }, () => node);
  return { groups: node };
}

function nest(value: unknown, levels: number): unknown {
  for (let i = 0; i < levels; i++) value = { d: value };
  return value;
}

class Session {
  user = 'alice';
}
class Roles extends Array<string> {}

const KEYS = ['a', 'b', 'role', 'constructor', 'toString', '__proto__', 'x y', 'k\udc00', '\ud83d\ude00'];

const plainLeaf = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(0, -0, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, '\ud83d\ude00'),
  fc.date({ noInvalidDate: true }),
);
const hostileLeaf = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 4 }), // lone surrogates among them
  fc.constantFrom('a\ud800', '\udc00'),
  fc.constantFrom(NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), 2 ** 60, 1e300),
  fc.constant(new Date(NaN)),
  fc.constantFrom<unknown>(
    undefined,
    () => 1,
    Symbol('s'),
    new Map([['a', 1]]),
    new Set(['admin']),
    new Session(),
    Buffer.from('x'),
    Roles.from(['admin']),
    /re/,
    Object('boxed') as unknown,
    new Uint8Array(2),
  ),
);

/**
 * Values both converters must judge alike: no null, fraction, bigint or Cedar escape. Plain data,
 * objects shared within the value and null-prototype records always; with `hostile`, also the
 * kinds to refuse (lone surrogates, NaN, huge integers, class instances, holes, named array
 * properties, cycles …) and keys with a lone surrogate.
 */
function values(hostile: boolean): fc.Arbitrary<unknown> {
  const keys = hostile ? KEYS : KEYS.filter((k) => k !== 'k\udc00');
  return fc.letrec((tie) => ({
    leaf: hostile ? fc.oneof({ weight: 3, arbitrary: plainLeaf }, { weight: 1, arbitrary: hostileLeaf }) : plainLeaf,
    value: fc.oneof(
      { depthSize: 'small', maxDepth: 4 },
      tie('leaf'),
      tie('array'),
      tie('object'),
      tie('shared'),
      ...(hostile ? [tie('holey'), tie('named'), tie('cycle')] : []),
    ),
    array: fc.array(tie('value'), { maxLength: 4 }),
    object: fc
      .tuple(fc.array(fc.tuple(fc.constantFrom(...keys), tie('value')), { maxLength: 4 }), fc.boolean())
      .map(([entries, nullProto]) => record(entries, nullProto ? null : Object.prototype)),
    shared: tie('value').map((node) =>
      record([
        ['a', node],
        ['b', [node, node]],
      ]),
    ),
    holey: fc.tuple(fc.array(tie('value'), { minLength: 1, maxLength: 4 }), fc.nat()).map(([items, at]) => {
      const holey = [...items];
      delete holey[at % holey.length];
      return holey;
    }),
    named: fc
      .tuple(fc.array(tie('value'), { maxLength: 3 }), tie('value'))
      .map(([items, extra]) => Object.assign([...items], { groups: extra })),
    cycle: fc.tuple(fc.constantFrom(...keys), tie('value')).map(([key, inner]) => {
      const o = record([[key, inner]]);
      o['self'] = [o];
      return o;
    }),
  })).value;
}
const plain = values(false);
const shared = values(true);

const hostile = fc.oneof(
  { weight: 20, arbitrary: shared },
  { weight: 2, arbitrary: shared.map((v) => nest(v, 70)) }, // deeper than both limits
  // Shared-object graphs of ~2,000 paths (passes) and 262,144 (over the budget).
  { weight: 1, arbitrary: fc.constantFrom(dagOf(2, 10), dagOf(4, 9)) },
);

t.test('both converters accept and refuse the same values, for the same reason at the same path', async (t) => {
  fc.assert(
    fc.property(hostile, (value) => {
      const json = asJson(value);
      const cedar = asCedar(value);
      assert.equal(json.ok, cedar.ok, 'both accept or both refuse');
      if (!json.ok && !cedar.ok) {
        assert.equal(json.what, cedar.what, 'the same reason');
        // A limit is reached at another place, as the two limits differ.
        if (json.what !== 'nesting too deep' && json.what !== 'over the budget')
          assert.equal(json.path, cedar.path, 'at the same path');
      }
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

t.test('what both accept comes out as the value itself', async (t) => {
  fc.assert(
    fc.property(plain, (value) => {
      const json = asJson(value, 'iso');
      assert.ok(json.ok, 'plain data passes');
      // Exactly what JSON.stringify would have sent (a Date in ISO form), and as data the same.
      assert.equal(JSON.stringify(json.out), JSON.stringify(value));
      assert.deepEqual(JSON.parse(JSON.stringify(json.out)), JSON.parse(JSON.stringify(value)));
      // A Date as epoch ms on both sides: the same plain objects and arrays, key for key.
      const epoch = asJson(value, 'epoch-ms');
      const cedar = asCedar(value);
      assert.ok(epoch.ok && cedar.ok);
      assert.deepStrictEqual(cedar.out, epoch.out);
      assert.deepEqual(epoch.out, copyWithDates(value));
      const keys = (o: unknown): string[] => (typeof o === 'object' && o !== null ? Object.keys(o) : []);
      assert.deepStrictEqual(keys(json.out), keys(value), 'own keys, __proto__ included, in order');
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

/** `value` with each Date as its epoch ms: what an accepted value must convert to. */
function copyWithDates(value: unknown): unknown {
  if (value instanceof Date) return value.getTime();
  if (Array.isArray(value)) return value.map(copyWithDates);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copyWithDates(v)]));
  return value;
}

t.test('Cedar is the stricter on null and fractions, and on nothing else', async (t) => {
  const wider = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth: 3 },
      shared,
      fc.constantFrom<unknown>(null, 0.5, -2.25, 1e-7, 0.1 + 0.2),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.array(fc.tuple(fc.constantFrom(...KEYS), tie('value')), { maxLength: 3 }).map((e) => record(e)),
    ),
  })).value;
  fc.assert(
    fc.property(wider, fc.constantFrom<'deny' | 'decimal'>('deny', 'decimal'), (value, fractions) => {
      const json = asJson(value);
      const cedar = asCedar(value, fractions);
      if (cedar.ok) assert.ok(json.ok, 'what Cedar accepts, JSON accepts');
      if (!json.ok) assert.ok(!cedar.ok, 'what JSON refuses, Cedar refuses');
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

t.test('the differences on purpose', async (t) => {
  const accepted = (o: Outcome) => o.ok;
  t.ok(accepted(asJson({ v: null })), 'null passes as JSON');
  t.notOk(accepted(asCedar({ v: null })), 'Cedar has no null');
  t.ok(accepted(asJson({ v: 0.5 })), 'a fraction passes as JSON');
  t.notOk(accepted(asCedar({ v: 0.5 })), 'Cedar refuses a fraction by default');
  t.same(toCedarValue({ v: 0.5 }, { fractions: 'decimal' }), { v: { __extn: { fn: 'decimal', arg: '0.5' } } });
  t.notOk(accepted(asJson({ v: 1n })), 'JSON.stringify throws on a bigint');
  t.same(toCedarValue({ v: 1n }), { v: 1 }, 'a bigint within 2^53 is a Cedar Long');
  t.notOk(accepted(asCedar({ v: 2n ** 60n })), 'and one beyond is refused');
  const entity = { __entity: { type: 'User', id: 'alice' } };
  t.same(exactJson({ e: entity }, 'context', 'iso'), { e: entity }, 'an escape is a plain record as JSON');
  t.same(toCedarValue({ e: entity }), { e: entity }, 'and an entity reference in Cedar');
  t.notOk(accepted(asCedar({ e: { __expr: 'true' } })), 'Cedar refuses __expr');
  t.ok(accepted(asJson({ e: { __expr: 'true' } })));
  t.ok(accepted(asJson(nest(1, 30))), 'JSON nests 64 deep');
  t.match(asCedar(nest(1, 30)), { ok: false, what: 'nesting too deep' }, 'Cedar 16');
  const wide = { list: Array.from({ length: 10_001 }, () => 1) };
  t.ok(accepted(asJson(wide)), 'JSON holds 100,000 values');
  t.throws(() => toCedarRecord(wide), { message: /more than 10000 values/ }, 'Cedar 10,000 by default');
});
