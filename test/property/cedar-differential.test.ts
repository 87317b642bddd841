// Differential property test: the compiled Cedar engine (cedar-compile.ts, cedar-runtime.ts) gives
// exactly cedar-wasm's answer (decision, determining policies, erroring policies, or the same
// error) on random policy sets and random requests, including values at the edges of what the
// compiled engine holds (Longs near 2^53 and 2^63, odd decimals and addresses, unicode strings).
// A few hundred cases by default; CTLS_PROPERTY_RUNS=20000 for a long run, CTLS_PROPERTY_SEED to replay.
import fc from 'fast-check';
import t from 'tap';
import { cedarPolicy, type CedarPolicy, type CedarRequest } from '../../dist/policy/cedar/policy.js';

const RUNS = Number(process.env['CTLS_PROPERTY_RUNS'] ?? 300);
const SEED = process.env['CTLS_PROPERTY_SEED'] === undefined ? undefined : Number(process.env['CTLS_PROPERTY_SEED']);

const uid = (type: string, id: string) => ({ type, id });
const ent = (type: string, id: string) => ({ __entity: { type, id } });

type Entities = NonNullable<Parameters<typeof cedarPolicy>[0]['entities']>;

const entities: Entities = [
  {
    uid: uid('User', 'alice'),
    parents: [uid('Group', 'admins')],
    attrs: {
      age: 30,
      name: 'alice',
      score: { __extn: { fn: 'decimal', arg: '1.5' } },
      ip: { __extn: { fn: 'ip', arg: '10.0.0.1/24' } },
      manager: ent('User', 'bob'),
      tags: ['a', 'b'],
      rec: { k: 1, s: 'x' },
    },
    tags: { clearance: 3 },
  },
  { uid: uid('User', 'bob'), parents: [uid('Group', 'staff')], attrs: { age: 9007199254740991, name: 'bob' } },
  { uid: uid('Group', 'admins'), parents: [uid('Group', 'staff')], attrs: {} },
  { uid: uid('Group', 'staff'), parents: [], attrs: { size: 10 } },
  { uid: uid('Action', 'read'), parents: [uid('Action', 'any')], attrs: {} },
  { uid: uid('NS::Doc', 'd1'), parents: [], attrs: { owner: ent('User', 'alice'), level: -3 } },
];

const longs = [0, 1, -1, 2, 30, 3037000499, 3037000500, -3037000500, 2 ** 31, 2 ** 52, 2 ** 53 - 1, -(2 ** 53 - 1)];
const strings = ['', 'a', 'alice', 'a*b', 'é', '日本', '\u{1F600}', 'a\\*', '*', 'x'.repeat(3)];
const decimals = [
  '0.0',
  '-0.0',
  '1.5',
  '1.50',
  '-1.0',
  '0.0001',
  '1.23456',
  '922337203685477.5807',
  '-922337203685477.5808',
  '922337203685477.5808',
  '1.',
  '.5',
  '01.5',
  '1e3',
  '+1.0',
];
const ips = [
  '10.0.0.1',
  '10.0.0.0/8',
  '127.0.0.1',
  '::1',
  'ff00::/8',
  '::',
  '::ffff:1.2.3.4',
  '1.2.3.4/33',
  '01.2.3.4',
  '1:2:3:4:5:6:7::',
  '::1/129',
  '192.168.1.1/0',
  'fe80::1%eth0',
  'a::b::c',
];
const entityLits = [
  'User::"alice"',
  'User::"bob"',
  'User::"ghost"',
  'Group::"admins"',
  'Group::"staff"',
  'Action::"read"',
  'Action::"any"',
  'NS::Doc::"d1"',
];
const attrs = ['age', 'name', 'score', 'ip', 'manager', 'tags', 'rec', 'owner', 'level', 'n', 's', 'k', 'x', 'size'];
const oddKeys = ['é', '__x', 'a b', ''];

const quote = (s: string): string => JSON.stringify(s);

const { expr } = fc.letrec<{ expr: string; leaf: string }>((tie) => ({
  leaf: fc.oneof(
    fc.constantFrom(...longs).map(String),
    fc.constantFrom('9223372036854775807', '-9223372036854775808', '4611686018427387904'),
    fc.constantFrom(...strings).map(quote),
    fc.constantFrom('true', 'false'),
    fc.constantFrom(...entityLits),
    fc.constantFrom('principal', 'action', 'resource', 'context'),
    fc.constantFrom(...attrs).map((a) => `context.${a}`),
    fc.tuple(fc.constantFrom('principal', 'resource'), fc.constantFrom(...attrs)).map(([v, a]) => `${v}.${a}`),
    fc.constantFrom(...decimals).map((d) => `decimal(${quote(d)})`),
    fc.constantFrom(...ips).map((a) => `ip(${quote(a)})`),
  ),
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('leaf'),
    fc
      .tuple(
        tie('expr'),
        fc.constantFrom('&&', '||', '==', '!=', '<', '<=', '>', '>=', '+', '-', '*', 'in'),
        tie('expr'),
      )
      .map(([a, op, b]) => `(${a}) ${op} (${b})`),
    fc.tuple(fc.constantFrom('!', '-'), tie('expr')).map(([op, a]) => `${op}(${a})`),
    fc
      .tuple(tie('expr'), fc.constantFrom('n', 'age', 'rec.k', 'a.b', 'owner', 'tags'))
      .map(([a, p]) => `(${a}) has ${p}`),
    fc
      .tuple(tie('expr'), fc.constantFrom('*', 'a*', '*b', 'a*b', '*l*c*', 'alice', '', '\\*', 'é*', '*\u{1F600}'))
      .map(([a, p]) => `(${a}) like ${quote(p)}`),
    fc
      .tuple(tie('expr'), fc.constantFrom('User', 'Group', 'NS::Doc'), fc.option(fc.constantFrom(...entityLits)))
      .map(([a, ty, within]) => `(${a}) is ${ty}${within === null ? '' : ` in ${within}`}`),
    fc.tuple(tie('expr'), tie('expr'), tie('expr')).map(([c, a, b]) => `if (${c}) then (${a}) else (${b})`),
    fc.array(tie('expr'), { maxLength: 3 }).map((items) => `[${items.join(', ')}]`),
    fc.tuple(tie('expr'), tie('expr')).map(([a, b]) => `{a: (${a}), "b c": (${b})}`),
    fc
      .tuple(
        tie('expr'),
        fc.constantFrom(
          'contains',
          'containsAll',
          'containsAny',
          'lessThan',
          'lessThanOrEqual',
          'greaterThan',
          'greaterThanOrEqual',
          'isInRange',
          'getTag',
          'hasTag',
        ),
        tie('expr'),
      )
      .map(([a, m, b]) => `(${a}).${m}(${b})`),
    fc
      .tuple(tie('expr'), fc.constantFrom('isEmpty', 'isIpv4', 'isIpv6', 'isLoopback', 'isMulticast'))
      .map(([a, m]) => `(${a}).${m}()`),
    fc.tuple(tie('expr'), fc.constantFrom(...attrs)).map(([a, attr]) => `(${a}).${attr}`),
    fc.tuple(fc.constantFrom('decimal', 'ip'), tie('expr')).map(([f, a]) => `${f}(${a})`),
  ),
}));

const scope = (variable: string): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constant(variable),
    fc.constantFrom(...entityLits).map((e) => `${variable} == ${e}`),
    fc.constantFrom(...entityLits).map((e) => `${variable} in ${e}`),
    fc.constantFrom('User', 'NS::Doc').map((ty) => `${variable} is ${ty}`),
  );

const policy = fc
  .tuple(
    fc.constantFrom('permit', 'permit', 'forbid'),
    scope('principal'),
    fc.constantFrom(
      'action',
      'action == Action::"read"',
      'action in Action::"any"',
      'action in [Action::"read", Action::"write"]',
    ),
    scope('resource'),
    fc.array(fc.tuple(fc.constantFrom('when', 'unless'), expr), { maxLength: 2 }),
  )
  .map(
    ([effect, p, a, r, clauses]) => `${effect}(${p}, ${a}, ${r})${clauses.map(([k, e]) => ` ${k} { ${e} }`).join('')};`,
  );

const policySet = fc
  .array(policy, { minLength: 1, maxLength: 5 })
  .map((ps) => ps.map((p, i) => `@id("p${i}") ${p}`).join('\n'));

const contextValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(...longs),
    fc.integer(),
    fc.constantFrom(...strings),
    fc.string({ unit: 'binary', maxLength: 4 }),
    fc.boolean(),
    fc.constantFrom('User', 'Group').chain((ty) => fc.constantFrom('alice', 'bob', 'admins').map((id) => ent(ty, id))),
    fc.constantFrom(...decimals).map((arg) => ({ __extn: { fn: 'decimal', arg } })),
    fc.constantFrom(...ips).map((arg) => ({ __extn: { fn: 'ip', arg } })),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.array(fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom('a', 'b')), { minLength: 15, maxLength: 40 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'k', 'n', 'owner'), tie('v'), { maxKeys: 3 }),
  ),
})).v;

const request: fc.Arbitrary<CedarRequest> = fc.record({
  principal: fc.constantFrom(
    uid('User', 'alice'),
    uid('User', 'bob'),
    uid('User', 'ghost'),
    uid('Group', 'admins'),
    uid('User', ''),
    uid('User', '日本'),
    uid('NS::Doc', 'd1'),
  ),
  action: fc.constantFrom(uid('Action', 'read'), uid('Action', 'write')),
  resource: fc.constantFrom(uid('NS::Doc', 'd1'), uid('NS::Doc', 'd2'), uid('User', 'alice')),
  context: fc.dictionary(fc.constantFrom(...attrs, ...oddKeys), contextValue, { maxKeys: 5 }),
});

const uids = [
  uid('User', 'alice'),
  uid('User', 'bob'),
  uid('Group', 'admins'),
  uid('Group', 'staff'),
  uid('Action', 'read'),
  uid('NS::Doc', 'd1'),
];

/** A random entity store over a fixed set of uids: random attributes and tags, parents possibly cyclic. */
const randomEntities: fc.Arbitrary<Entities> = fc
  .uniqueArray(fc.constantFrom(...uids), { selector: (u) => `${u.type}::${u.id}`, maxLength: uids.length })
  .chain(
    (present) =>
      fc.tuple(
        ...present.map((u) =>
          fc.record({
            uid: fc.constant(u),
            parents: fc.uniqueArray(fc.constantFrom(...uids), { selector: (p) => `${p.type}::${p.id}`, maxLength: 2 }),
            attrs: fc.dictionary(fc.constantFrom(...attrs), contextValue, { maxKeys: 3 }),
            tags: fc.dictionary(fc.constantFrom('clearance', 'x'), contextValue, { maxKeys: 2 }),
          }),
        ),
      ) as fc.Arbitrary<Entities>,
  );

type Outcome = { allow: boolean; policies: string[]; errors: string[] } | { threw: string };

function outcome(p: CedarPolicy, r: CedarRequest): Outcome {
  try {
    const a = p.authorize(r);
    return { allow: a.allow, policies: a.policies, errors: a.errors };
  } catch (err) {
    return { threw: (err as { code?: string }).code ?? String(err) };
  }
}

t.test('compiled engine == cedar-wasm on random policies and requests', async (t) => {
  let compared = 0;
  let compiledSets = 0;
  let allowed = 0;
  let errored = 0;
  fc.assert(
    fc.property(policySet, fc.array(request, { minLength: 1, maxLength: 4 }), (text, requests) => {
      let compiled: CedarPolicy;
      try {
        compiled = cedarPolicy({ policies: text, entities });
      } catch {
        return; // Not valid Cedar: both engines refuse it at load.
      }
      const reference = cedarPolicy({ policies: text, entities, engine: 'wasm' });
      try {
        if (compiled.engine === 'compiled') compiledSets++;
        for (const r of requests) {
          const got = outcome(compiled, r);
          const want = outcome(reference, r);
          compared++;
          if ('allow' in want && want.allow) allowed++;
          if ('errors' in want && want.errors.length > 0) errored++;
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            throw new Error(
              `engines differ\npolicies:\n${text}\nrequest: ${JSON.stringify(r)}\n` +
                `compiled: ${JSON.stringify(got)}\nwasm:     ${JSON.stringify(want)}`,
            );
          }
        }
      } finally {
        compiled.close();
        reference.close();
      }
    }),
    { numRuns: RUNS, ...(SEED !== undefined && { seed: SEED }) },
  );
  t.ok(compiledSets > 0 && compared > RUNS / 2, `${compared} requests compared over ${compiledSets} compiled sets`);
  t.ok(allowed > 0 && errored > 0, `a mix of outcomes: ${allowed} allowed, ${errored} with errors`);
});

t.test('compiled engine == cedar-wasm with random entity stores', async (t) => {
  let compared = 0;
  let compiledSets = 0;
  fc.assert(
    fc.property(
      policySet,
      randomEntities,
      fc.array(request, { minLength: 1, maxLength: 3 }),
      (text, store, requests) => {
        let compiled: CedarPolicy;
        try {
          compiled = cedarPolicy({ policies: text, entities: store });
        } catch {
          return; // Invalid policies or entities: both engines refuse them at load.
        }
        const reference = cedarPolicy({ policies: text, entities: store, engine: 'wasm' });
        try {
          if (compiled.engine === 'compiled') compiledSets++;
          for (const r of requests) {
            const got = outcome(compiled, r);
            const want = outcome(reference, r);
            compared++;
            if (JSON.stringify(got) !== JSON.stringify(want)) {
              throw new Error(
                `engines differ\npolicies:\n${text}\nentities: ${JSON.stringify(store)}\n` +
                  `request: ${JSON.stringify(r)}\ncompiled: ${JSON.stringify(got)}\nwasm:     ${JSON.stringify(want)}`,
              );
            }
          }
        } finally {
          compiled.close();
          reference.close();
        }
      },
    ),
    { numRuns: Math.ceil(RUNS / 3), ...(SEED !== undefined && { seed: SEED }) },
  );
  t.ok(compared > 0 && compiledSets > 0, `${compared} requests compared over ${compiledSets} compiled sets`);
});
