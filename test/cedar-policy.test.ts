// Embedded Cedar: default mapping, overrides, context conversion, schema/entities, errors.
import t from 'tap';
import { cedarDecimal, cedarPolicy } from '../dist/policy/cedar/policy.js';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { contextFacts } from '../dist/policy/facts.js';
import { certs } from './helpers/certs';
import { certInput, makeInput, tokenInput } from './helpers/policy-input';

const policies = `
@id("alice-reads")
permit(principal == User::"alice", action == Action::"GET", resource);

@id("bob-writes-orders")
permit(principal == User::"bob", action == Action::"POST", resource == Resource::"/orders");

@id("risky")
forbid(principal, action, resource) when { context has risk && context.risk.greaterThan(decimal("0.5")) };

@id("scoped-token")
permit(principal, action == Action::"GET", resource == Resource::"/reports")
  when { context has token && context.token.scope.contains("reports:read") };

@id("connections")
permit(principal, action == Action::"handshake", resource == Resource::"connection")
  when { context.verified && context has certificate && context.certificate.subject == "alice" };
`;

t.test('default mapping: principal from the certificate CN or token sub, action, resource', async (t) => {
  const cedar = cedarPolicy({ policies });
  t.teardown(() => cedar.close());
  t.same(cedar.policyIds, ['alice-reads', 'bob-writes-orders', 'risky', 'scoped-token', 'connections']);
  t.match(await evaluatePolicy(cedar, certInput(certs.clientCert, 'GET', '/anything')), {
    allow: true,
    reason: 'cedar: permit alice-reads',
  });
  t.match(await evaluatePolicy(cedar, certInput(certs.clientCert, 'POST', '/orders')), {
    allow: false,
    reason: 'cedar: no permit',
  });
  t.match(await evaluatePolicy(cedar, certInput(certs.client2Cert, 'POST', '/orders')), { allow: true });
  t.match(
    await evaluatePolicy(cedar, tokenInput({ sub: 'bob' }, 'POST', '/orders')),
    { allow: true },
    'token sub without a certificate',
  );
  t.match(await evaluatePolicy(cedar, tokenInput({ sub: 'eve', scope: ['reports:read'] }, 'GET', '/reports')), {
    allow: true,
    reason: 'cedar: permit scoped-token',
  });
  t.match(await evaluatePolicy(cedar, tokenInput({ sub: 'eve', scope: ['other'] }, 'GET', '/reports')), {
    allow: false,
  });
  // Connection-level decisions: action = trigger, resource = 'connection'.
  const hs = certInput(certs.clientCert, 'GET', '/', { trigger: 'handshake' });
  delete hs.request;
  t.match(await evaluatePolicy(cedar, hs), { allow: true, reason: 'cedar: permit connections' });
});

t.test('risk signals in the app context, as decimals', async (t) => {
  const cedar = cedarPolicy({ policies });
  t.teardown(() => cedar.close());
  const alice = (risk: number) => ({
    ...certInput(certs.clientCert, 'GET', '/x'),
    context: { risk: cedarDecimal(risk) },
  });
  t.match(await evaluatePolicy(cedar, alice(0.2)), { allow: true });
  t.match(await evaluatePolicy(cedar, alice(0.9)), { allow: false, reason: 'cedar: forbid risky' });
  // App context cannot mask the library's own facts.
  const spoof = {
    ...certInput(certs.client2Cert, 'GET', '/', { trigger: 'handshake' }),
    context: { certificate: { subject: 'alice' } },
  };
  delete spoof.request;
  t.match(await evaluatePolicy(cedar, spoof), { allow: false });
});

t.test("contextFacts: the library's facts win a clash, app keys stay plain data", async (t) => {
  const appContext = JSON.parse(
    '{"verified": true, "trigger": "spoofed", "tenant": "acme", "__proto__": {"polluted": 1}}',
  ) as Record<string, unknown>;
  const input = { ...certInput(certs.client2Cert, 'GET', '/'), context: appContext };
  input.peer = { ...input.peer, verified: false };
  const facts = contextFacts(input);
  t.equal(facts['verified'], false, 'verified comes from the peer, not the app');
  t.equal(facts['trigger'], 'request');
  t.equal(facts['tenant'], 'acme', 'other app signals pass through');
  t.equal(Object.getPrototypeOf(facts), Object.prototype, 'an app key "__proto__" does not become the prototype');
  t.same(Object.getOwnPropertyDescriptor(facts, '__proto__')?.value, { polluted: 1 }, 'it stays an own key');
  t.equal((facts as { polluted?: unknown }).polluted, undefined);
});

t.test('mapping overrides', async (t) => {
  const cedar = cedarPolicy({
    policies:
      'permit(principal == Service::"billing", action == Action::"call", resource == Api::"ledger") ' +
      'when { context.tenant == "acme" };',
    mapping: {
      principal: () => ({ type: 'Service', id: 'billing' }),
      action: () => ({ type: 'Action', id: 'call' }),
      resource: (input) => ({ type: 'Api', id: input.request!.path.slice(1) }),
      context: (input) => ({ tenant: input.context['tenant'] }),
    },
  });
  t.teardown(() => cedar.close());
  t.match(await evaluatePolicy(cedar, { ...tokenInput({}, 'GET', '/ledger'), context: { tenant: 'acme' } }), {
    allow: true,
  });
  t.match(await evaluatePolicy(cedar, { ...tokenInput({}, 'GET', '/ledger'), context: { tenant: 'other' } }), {
    allow: false,
  });
});

t.test('schema and entities are loaded once and used', async (t) => {
  const schema = `
    entity Group;
    entity User in [Group];
    entity Resource;
    action GET appliesTo { principal: User, resource: Resource, context: {} };
  `;
  const entities = [
    { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [{ type: 'Group', id: 'admins' }] },
    { uid: { type: 'Group', id: 'admins' }, attrs: {}, parents: [] },
  ];
  const cedar = cedarPolicy({
    policies: 'permit(principal in Group::"admins", action == Action::"GET", resource);',
    schema,
    entities,
    mapping: { context: () => ({}) },
  });
  t.teardown(() => cedar.close());
  t.match(await evaluatePolicy(cedar, certInput(certs.clientCert, 'GET', '/admin')), { allow: true });
  t.match(await evaluatePolicy(cedar, certInput(certs.client2Cert, 'GET', '/admin')), { allow: false });
  t.throws(
    () =>
      cedarPolicy({
        policies: 'permit(principal, action == Action::"GET", resource) when { context.nope == 1 };',
        schema,
      }),
    { code: 'ERR_CTLS_CEDAR', diagnostics: [{ message: /nope/ }] },
    'policies that do not validate are refused',
  );
});

t.test('invalid policies throw at construction with diagnostics', async (t) => {
  t.throws(
    () =>
      cedarPolicy({
        policies: 'permit(principal, action == Action::"GET", resource);\npermit(principal, action resource);',
      }),
    {
      code: 'ERR_CTLS_CEDAR',
      message: /policies:2:26/,
      diagnostics: [{ source: 'policies', line: 2, column: 26, message: /unexpected token/ }],
    },
  );
  t.throws(
    () =>
      cedarPolicy({
        policies: '@id("a") permit(principal, action, resource);\n@id("a") forbid(principal, action, resource);',
      }),
    { code: 'ERR_CTLS_CEDAR', message: /used twice/ },
  );
  t.throws(() => cedarPolicy({} as never), { code: 'ERR_CTLS_INVALID_OPTION', message: /"policies"/ });
  t.throws(() => cedarPolicy({ policies: '', file: 'x.cedar' }), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(() => cedarPolicy({ policies: '', watch: true }), { code: 'ERR_CTLS_INVALID_OPTION', message: /"watch"/ });
  t.throws(() => cedarPolicy({ file: '/nonexistent/dir/p.cedar' }), {
    code: 'ERR_CTLS_CEDAR',
    message: /could not be read/,
  });
});

t.test('an evaluation Cedar cannot run fails closed; setPolicies swaps', async (t) => {
  const cedar = cedarPolicy({
    policies: 'permit(principal, action, resource);',
    mapping: { principal: () => ({ type: 'User' }) as never },
  });
  t.teardown(() => cedar.close());
  t.match(await evaluatePolicy(cedar, makeInput()), {
    allow: false,
    reason: 'policy-error',
    error: { code: 'ERR_CTLS_CEDAR_CONTEXT', path: 'principal.id' },
  });

  const swap = cedarPolicy({ policies: 'permit(principal, action, resource);' });
  let changed = 0;
  swap.onChange(() => changed++);
  t.match(await evaluatePolicy(swap, makeInput()), { allow: true });
  swap.setPolicies('forbid(principal, action, resource);');
  t.equal(changed, 1);
  t.equal(swap.version, 2);
  t.match(await evaluatePolicy(swap, makeInput()), { allow: false, reason: 'cedar: forbid policy0' });
  t.throws(() => swap.setPolicies('nonsense'), { code: 'ERR_CTLS_CEDAR' });
  t.match(
    await evaluatePolicy(swap, makeInput()),
    { allow: false, reason: 'cedar: forbid policy0' },
    'the old set stays',
  );
  swap.close();
  t.match(await evaluatePolicy(swap, makeInput()), { allow: false, reason: 'policy-error' }, 'closed fails closed');
});
