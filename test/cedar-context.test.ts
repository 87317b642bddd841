// A context value Cedar cannot hold exactly refuses the request (ERR_CTLS_CEDAR_CONTEXT, naming the
// path) on both engines: never dropped, rounded or retyped, since a `forbid` that errors is skipped.
import t, { type Test } from 'tap';
import { cedarDecimal, cedarPolicy, type CedarPolicy, type CedarRequest } from '../dist/policy/cedar/policy.js';
import { toCedarRecord, toCedarValue } from '../dist/policy/cedar/values.js';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { makeInput } from './helpers/policy-input';

const policies = `
@id("all") permit(principal, action, resource);
@id("big") forbid(principal, action, resource) when { context has amount && context.amount > 1000000 };
@id("big-unguarded") forbid(principal, action, resource) when { context.limit > 1000000 };
@id("revoked") forbid(principal, action, resource) when { context has revoked && context.revoked != false };
`;

const request = (context: Record<string, unknown>): CedarRequest => ({
  principal: { type: 'User', id: 'alice' },
  action: { type: 'Action', id: 'pay' },
  resource: { type: 'Resource', id: '/pay' },
  context,
});

function both(t: Test, options: Partial<Parameters<typeof cedarPolicy>[0]> = {}): CedarPolicy[] {
  const engines = [cedarPolicy({ policies, ...options }), cedarPolicy({ policies, engine: 'wasm', ...options })];
  t.equal(engines[0]!.engine, 'compiled');
  t.equal(engines[1]!.engine, 'wasm');
  t.teardown(() => engines.forEach((e) => e.close()));
  return engines;
}

t.test('the fail-open cases of a lossy conversion are denials naming the value', async (t) => {
  for (const cedar of both(t)) {
    const deny = async (context: Record<string, unknown>, path: string) => {
      const d = await evaluatePolicy(cedar, { ...makeInput(), context });
      t.match(
        d,
        { allow: false, reason: 'policy-error', error: { code: 'ERR_CTLS_CEDAR_CONTEXT', path } },
        `${cedar.engine}: ${path}`,
      );
      t.throws(() => cedar.authorize(request(context)), {
        code: 'ERR_CTLS_CEDAR_CONTEXT',
        path,
        message: new RegExp(path.replace(/[.[\]]/g, '\\$&')),
      });
    };
    t.match(
      cedar.authorize(request({ amount: 5, limit: 1, revoked: false })),
      { allow: true },
      'the baseline is allowed',
    );
    t.match(cedar.authorize(request({ amount: 2000000, limit: 1 })), { allow: false, policies: ['big'] });
    await deny({ amount: 2000000.5, limit: 1 }, 'context.amount');
    // A literal past 2^53 on purpose: it reaches the library already rounded, which must be refused.
    // eslint-disable-next-line no-loss-of-precision
    await deny({ amount: 12345678901234567, limit: 1 }, 'context.amount');
    await deny({ amount: 2 ** 60, limit: 1 }, 'context.amount');
    await deny({ limit: 1, revoked: null }, 'context.revoked');
    await deny({ limit: 1, revoked: undefined }, 'context.revoked');
    await deny({ limit: 1.5 }, 'context.limit');
    await deny({ limit: 1, nested: { list: [1, null] } }, 'context.nested.list[1]');
  }
});

t.test('every kind of unrepresentable value is refused with its path', async (t) => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic['self'] = cyclic;
  const deep: Record<string, unknown> = {};
  let at = deep;
  for (let i = 0; i < 20; i++) at = (at['d'] = {}) as Record<string, unknown>;
  const cases: Array<[string, unknown, RegExp]> = [
    ['null', null, /context\.v is null/],
    ['undefined', undefined, /context\.v is undefined/],
    ['NaN', NaN, /context\.v is NaN/],
    ['Infinity', Infinity, /Infinity/],
    ['-Infinity', -Infinity, /Infinity/],
    ['2^53', 2 ** 53, /beyond 2\^53/],
    ['fraction', 0.7, /fraction 0\.7/],
    ['tiny fraction', 2.5e-5, /fraction/],
    ['bigint beyond 2^53', 2n ** 60n, /bigint/],
    ['function', () => 1, /function/],
    ['symbol', Symbol('x'), /symbol/],
    ['Buffer', Buffer.from('x'), /Buffer/],
    ['Map', new Map(), /Map/],
    ['invalid Date', new Date(NaN), /invalid Date/],
    ['lone surrogate', 'a\ud800', /lone surrogate/],
    ['cycle', cyclic, /context\.v\.self is a cycle/],
    ['deep', deep, /nesting deeper/],
    ['sparse array', [1, , 3], /context\.v\[1\] is a hole in an array/], // eslint-disable-line no-sparse-arrays
    ['malformed entity', { __entity: { type: 'User' } }, /escape/],
    ['entity with extra keys', { __entity: { type: 'User', id: 'a' }, y: 1 }, /escape/],
    ['extension with args', { __extn: { fn: 'decimal', args: ['1.0'] } }, /escape/],
    ['__expr', { __expr: 'true' }, /escape/],
  ];
  for (const [name, value, message] of cases) {
    t.throws(() => toCedarRecord({ v: value }), { code: 'ERR_CTLS_CEDAR_CONTEXT', message }, name);
  }
  t.throws(() => toCedarRecord({ 'odd key': null }), { code: 'ERR_CTLS_CEDAR_CONTEXT', path: 'context["odd key"]' });
  t.throws(() => toCedarRecord({ ['k\udc00']: 1 }), { message: /key with a lone surrogate/ });
  t.throws(() => toCedarRecord({ big: Array.from({ length: 10_001 }, () => 1) }), {
    message: /more than 10000 values/,
  });
  t.throws(() => toCedarRecord({ v: 1 }, { maxValues: 0 }), { message: /more than 0 values/ });
  t.throws(() => toCedarRecord([] as never), { path: 'context', message: /not a plain object/ });
  t.throws(() => toCedarRecord({ __entity: { type: 'User', id: 'a' } }), {
    code: 'ERR_CTLS_CEDAR_CONTEXT',
    path: 'context',
  });
});

t.test('what Cedar holds exactly passes unchanged', async (t) => {
  const record = JSON.parse('{"__proto__": {"p": 1}}') as Record<string, unknown>;
  t.same(
    toCedarRecord({
      s: 's',
      b: true,
      n: -42,
      z: -0,
      big: 2 ** 53 - 1,
      bi: 10n,
      d: new Date(5),
      list: [1, 'x', [true]],
      rec: { a: { b: 1 } },
      e: { __entity: { type: 'User', id: 'a' } },
      x: { __extn: { fn: 'ip', arg: '10.0.0.1' } },
      dec: cedarDecimal(0.7),
    }),
    {
      s: 's',
      b: true,
      n: -42,
      z: 0,
      big: 2 ** 53 - 1,
      bi: 10,
      d: 5,
      list: [1, 'x', [true]],
      rec: { a: { b: 1 } },
      e: { __entity: { type: 'User', id: 'a' } },
      x: { __extn: { fn: 'ip', arg: '10.0.0.1' } },
      dec: { __extn: { fn: 'decimal', arg: '0.7' } },
    },
  );
  const converted = toCedarRecord(record);
  t.ok(Object.prototype.hasOwnProperty.call(converted, '__proto__'), 'a key __proto__ stays an own key');
  t.equal(Object.getPrototypeOf(converted), Object.prototype);
  t.equal(toCedarValue('plain'), 'plain');
  const shared = { a: 1 };
  t.same(toCedarRecord({ x: shared, y: shared }), { x: { a: 1 }, y: { a: 1 } }, 'a shared value is not a cycle');
});

t.test("fractions: 'decimal' takes exact decimals only; cedarDecimal is type-stable", async (t) => {
  t.same(toCedarValue(0.7, { fractions: 'decimal' }), { __extn: { fn: 'decimal', arg: '0.7' } });
  t.same(toCedarValue(-2000000.5, { fractions: 'decimal' }), { __extn: { fn: 'decimal', arg: '-2000000.5' } });
  t.equal(toCedarValue(3, { fractions: 'decimal' }), 3, 'an integer stays a Long');
  for (const v of [0.12345, 2.5e-5, 1e15 + 0.5, 0.1 + 0.2]) {
    t.throws(
      () => toCedarValue(v, { fractions: 'decimal' }),
      { code: 'ERR_CTLS_CEDAR_CONTEXT' },
      `${v} is not an exact Cedar decimal`,
    );
  }
  t.same(cedarDecimal(1), { __extn: { fn: 'decimal', arg: '1.0' } });
  t.same(cedarDecimal(-0), { __extn: { fn: 'decimal', arg: '0.0' } });
  t.same(cedarDecimal(0.25), { __extn: { fn: 'decimal', arg: '0.25' } });
  for (const v of [0.00001, 1e15, NaN, Infinity, '1' as never])
    t.throws(() => cedarDecimal(v), { code: 'ERR_CTLS_CEDAR_CONTEXT' }, String(v));
  for (const cedar of both(t, {
    fractions: 'decimal',
    policies:
      `${policies}\n@id("risky") forbid(principal, action, resource) ` +
      'when { context has risk && context.risk.greaterThan(decimal("0.5")) };',
  })) {
    t.match(
      cedar.authorize(request({ limit: 1, risk: 0.9 })),
      { allow: false, policies: ['risky'] },
      `${cedar.engine}: 0.9 is a decimal`,
    );
    t.match(cedar.authorize(request({ limit: 1, risk: cedarDecimal(1) })), { allow: false, policies: ['risky'] });
    t.throws(() => cedar.authorize(request({ limit: 1, risk: 0.12345 })), {
      code: 'ERR_CTLS_CEDAR_CONTEXT',
      path: 'context.risk',
    });
  }
  t.throws(() => cedarPolicy({ policies, fractions: 'round' as never }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /"fractions"/,
  });
});

t.test('principal, action and resource reach Cedar unchanged or not at all', async (t) => {
  for (const cedar of both(t)) {
    t.throws(() => cedar.authorize({ ...request({ limit: 1 }), principal: { type: 'User', id: 'a\ud800' } }), {
      code: 'ERR_CTLS_CEDAR_CONTEXT',
      path: 'principal.id',
    });
    t.throws(() => cedar.authorize({ ...request({ limit: 1 }), resource: { type: 'Resource' } as never }), {
      code: 'ERR_CTLS_CEDAR_CONTEXT',
      path: 'resource.id',
    });
    t.throws(
      () => cedar.authorize(request({ limit: 1, d: { __extn: { fn: 'decimal', arg: 'nonsense' } } })),
      { code: 'ERR_CTLS_CEDAR_CONTEXT', path: 'request' },
      'Cedar refusing the request is the same error',
    );
  }
});

t.test('prepareContext converts once for several decisions', async (t) => {
  for (const cedar of both(t)) {
    const prepared = cedar.prepareContext({ amount: 2000001, limit: 1 });
    t.match(cedar.authorize({ ...request({}), context: prepared }), { allow: false, policies: ['big'] });
    t.match(cedar.authorize({ ...request({}), principal: { type: 'User', id: 'bob' }, context: prepared }), {
      allow: false,
      policies: ['big'],
    });
    t.throws(() => cedar.prepareContext({ amount: 0.5 }), { code: 'ERR_CTLS_CEDAR_CONTEXT', path: 'context.amount' });
  }
});
