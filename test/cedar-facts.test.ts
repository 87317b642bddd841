// CedarPolicy.factsRead(): the input paths the loaded policies can read, for a decision cache key.
// Checked on examples, on what cannot be bounded, across a watched reload, and as a property: two
// inputs equal on every path it lists get the same decision.
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { once, replaceFile, tempDir } from './helpers/policy-files';
import { makeInput } from './helpers/policy-input';

const RUNS = Number(process.env['CTLS_PROPERTY_RUNS'] ?? 200);

const factsOf = (policies: string): string[] | null => {
  const cedar = cedarPolicy({ policies });
  try {
    return cedar.factsRead();
  } finally {
    cedar.close();
  }
};

t.test('the paths each construct reads', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['permit(principal, action, resource);', []],
    ['permit(principal == User::"alice", action, resource);', ['peer.certificate.subject', 'token.sub']],
    ['permit(principal, action == Action::"GET", resource);', ['action', 'request.method', 'trigger']],
    ['permit(principal, action, resource in Resource::"/a");', ['request.path', 'resource']],
    [
      'permit(principal, action, resource) when { context.remoteAddress == "10.0.0.1" };',
      ['connection.remoteAddress', 'context.remoteAddress'],
    ],
    [
      'permit(principal, action, resource) when { context.verified && context.trigger == "request" };',
      ['peer.verified', 'trigger'],
    ],
    [
      'permit(principal, action, resource) when { context has tenant && context.tenant.id == "a" };',
      ['context.tenant'],
    ],
    ['permit(principal, action, resource) when { context.token.scope.contains("x") };', ['context.token', 'token']],
    ['permit(principal, action, resource) when { context has token };', ['context.token', 'token']],
    [
      'permit(principal, action, resource) when { context.certificate.issuer like "*CA*" };',
      ['context.certificate', 'peer.certificate.issuer'],
    ],
    [
      'permit(principal, action, resource) when { context has certificate.subject };',
      ['context.certificate', 'peer.certificate.subject'],
    ],
    [
      'permit(principal, action, resource) when { context.certificate == {} };',
      ['context.certificate', 'peer.certificate.fingerprint256'],
    ],
    [
      'permit(principal, action, resource) when { principal.dept == "eng" && context.path like "/admin*" };',
      ['context.path', 'peer.certificate.subject', 'request.path', 'token.sub'],
    ],
    [
      'permit(principal, action, resource) when { (if context.a then context.b else {c: context.c}) has d };',
      ['context.a', 'context.b', 'context.c'],
    ],
    [
      'permit(principal, action, resource) ' +
        'when { [context.x, context.ageMs].contains(1) && ip(context.ip).isLoopback() };',
      ['connection.ageMs', 'context.ip', 'context.x'],
    ],
    [
      'forbid(principal, action, resource) unless { context.reauthCount < 3 };\npermit(principal, action, resource);',
      ['connection.reauthCount'],
    ],
  ];
  for (const [policies, expected] of cases) t.same(factsOf(policies), expected, policies);
});

t.test('null when the reads cannot be bounded', async (t) => {
  t.equal(factsOf('permit(principal, action, resource) when { context == {} };'), null, 'the whole context');
  t.equal(
    factsOf('permit(principal, action, resource) when { context.a == 1 || {x: context}.x has b };'),
    null,
    'the whole context inside a record',
  );
  const mapped = cedarPolicy({ policies: 'permit(principal, action, resource);', mapping: { context: () => ({}) } });
  t.equal(mapped.factsRead(), null, 'a mapping can read anything');
  mapped.close();
  const schema = cedarPolicy({
    policies: 'permit(principal, action, resource);',
    schema: 'entity User; entity Resource; action GET appliesTo { principal: User, resource: Resource };',
  });
  t.equal(schema.factsRead(), null, 'a schema types (and may refuse) the whole context');
  schema.close();
  t.equal(factsOf('@id("t") permit(principal == ?principal, action, resource);'), null, 'templates');
});

t.test('a watched reload updates it', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'authz.cedar');
  writeFileSync(file, 'permit(principal, action, resource) when { context.path == "/a" };');
  const cedar = cedarPolicy({ file, watch: true, debounceMs: 5 });
  t.teardown(() => cedar.close());
  t.same(cedar.factsRead(), ['context.path', 'request.path']);
  const reloaded = once(cedar, 'reload');
  replaceFile(file, 'permit(principal, action, resource) when { context.tenant == "a" };');
  await reloaded;
  t.same(cedar.factsRead(), ['context.tenant']);
  const again = once(cedar, 'reload');
  replaceFile(file, 'permit(principal, action, resource) when { context == {} };');
  await again;
  t.equal(cedar.factsRead(), null);
  const copy = cedar.factsRead();
  t.equal(copy, null);
});

// ---- Property: inputs equal on factsRead() get the same decision --------------------------------

const certA = new X509Certificate(certs.clientCert);
const certB = new X509Certificate(certs.client2Cert);

const keys = ['tenant', 'method', 'path', 'token', 'certificate', 'remoteAddress', 'level', 'trigger'];
const value = fc.oneof(
  fc.constantFrom('a', 'b', '/x', 'GET', 'alice'),
  fc.integer({ min: -2, max: 2 }),
  fc.boolean(),
  fc.constant({ sub: 'alice', scope: ['x'] }),
  fc.constant({ subject: 'alice' }),
);

const input: fc.Arbitrary<AuthorizationInput> = fc
  .record({
    trigger: fc.constantFrom('request', 'handshake', 'interval'),
    cert: fc.constantFrom(certA, certB, undefined),
    token: fc.option(
      fc.record(
        { sub: fc.constantFrom('alice', 'bob', ''), scope: fc.constantFrom(['x'], ['y'], 'x') },
        { requiredKeys: [] },
      ),
      { nil: undefined },
    ),
    request: fc.option(
      fc.record({ method: fc.constantFrom('GET', 'PUT'), path: fc.constantFrom('/x', '/admin/1', '/') }),
      { nil: undefined },
    ),
    remoteAddress: fc.option(fc.constantFrom('10.0.0.1', '127.0.0.1'), { nil: undefined }),
    reauthCount: fc.integer({ min: 0, max: 4 }),
    context: fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 4 }),
  })
  .map((r) => {
    const i = makeInput({ trigger: r.trigger as AuthorizationInput['trigger'], context: r.context });
    i.connection = { ...i.connection, reauthCount: r.reauthCount };
    if (r.remoteAddress === undefined) delete (i.connection as { remoteAddress?: string }).remoteAddress;
    else i.connection.remoteAddress = r.remoteAddress;
    if (r.cert !== undefined) i.peer = { certificate: r.cert, chain: [r.cert], verified: true };
    if (r.token !== undefined) i.token = r.token;
    if (r.request !== undefined) i.request = { ...r.request, headers: {} };
    return i;
  });

const condition = fc.oneof(
  fc.constantFrom(...keys).map((k) => `context has ${k}`),
  fc
    .tuple(fc.constantFrom(...keys), fc.constantFrom('"a"', '"/x"', '"GET"', '1', 'true', '"alice"'))
    .map(([k, v]) => `context.${k} == ${v}`),
  fc.constantFrom(
    'context.token.sub == "alice"',
    'context.token.scope.contains("x")',
    'context.certificate.subject == "alice"',
    'context.reauthCount > 1',
    'context.verified',
    'context.trigger == "request"',
    'principal == User::"alice"',
    'action == Action::"GET"',
    'resource == Resource::"/x"',
    'context.path like "/admin*"',
    'context has certificate',
  ),
);
const policy = fc
  .tuple(fc.constantFrom('permit', 'forbid'), fc.array(condition, { minLength: 1, maxLength: 3 }))
  .map(([effect, cs]) => `${effect}(principal, action, resource) when { ${cs.join(' && ')} };`);

/** b with every fact at `paths` taken from a (as a cache key would see them equal). */
function withFactsOf(a: AuthorizationInput, b: AuthorizationInput, paths: string[]): AuthorizationInput {
  const out: AuthorizationInput = {
    ...b,
    connection: { ...b.connection },
    peer: { ...b.peer },
    context: { ...b.context },
  };
  if (b.token !== undefined) out.token = { ...b.token };
  for (const path of paths) {
    const [head, key] = path.split('.') as [string, string | undefined];
    if (head === 'peer' && path.startsWith('peer.certificate')) out.peer = a.peer;
    else if (head === 'peer') out.peer = { ...out.peer, verified: a.peer.verified };
    else if (head === 'request') out.request = a.request;
    else if (head === 'trigger') out.trigger = a.trigger;
    else if (head === 'action' || head === 'resource') {
      /* never set by these inputs */
    } else if (head === 'connection')
      (out.connection as unknown as Record<string, unknown>)[key!] = (
        a.connection as unknown as Record<string, unknown>
      )[key!];
    else if (head === 'token' && key === undefined) out.token = a.token;
    else if (head === 'token') {
      // Only 'token.sub' (the principal): an absent claim and an absent token read alike.
      if (a.token !== undefined && key! in a.token) out.token = { ...out.token, [key!]: a.token[key!] };
      else if (out.token !== undefined) delete out.token[key!];
    } else if (head === 'context') {
      if (a.context !== undefined && key! in a.context) out.context![key!] = a.context[key!];
      else delete out.context![key!];
    }
  }
  return out;
}

t.test('property: inputs equal on factsRead() are decided alike', async (t) => {
  let checked = 0;
  fc.assert(
    fc.property(fc.array(policy, { minLength: 1, maxLength: 4 }), input, input, (policies, a, b) => {
      const cedar = cedarPolicy({ policies: policies.join('\n') });
      try {
        const paths = cedar.factsRead();
        if (paths === null) return;
        const bLikeA = withFactsOf(a, b, paths);
        const decide = (i: AuthorizationInput): string => {
          try {
            const d = cedar.evaluate(i);
            return `${d.allow} ${d.reason}`;
          } catch (err) {
            return (err as { code?: string }).code ?? 'threw';
          }
        };
        checked++;
        const want = decide(a);
        const got = decide(bLikeA);
        if (got !== want)
          throw new Error(
            `factsRead ${JSON.stringify(paths)} missed a fact:\n${policies.join('\n')}\na: ${want}\nb: ${got}`,
          );
      } finally {
        cedar.close();
      }
    }),
    { numRuns: RUNS },
  );
  t.ok(checked > RUNS / 2, `${checked} pairs checked`);
});
