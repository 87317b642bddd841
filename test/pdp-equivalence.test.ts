// The same Cedar policies give the same answers embedded and through `continuous-tls pdp` (a
// separate process reached over AuthZEN), before and after a hot reload of the policies directory.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { cedarDecimal, cedarPolicy } from '../dist/policy/cedar/policy.js';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { authzenPolicy } from '../dist/policy/http-pdp.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { once, replaceFile, tempDir } from './helpers/policy-files';
import { certInput, tokenInput } from './helpers/policy-input';
import { spawnPdp } from './helpers/policy-pdp';

const rules = `
@id("staff-read")
permit(principal in Group::"staff", action == Action::"GET", resource);

@id("owner-write")
permit(principal, action in [Action::"PUT", Action::"DELETE"], resource)
  when { context has token && context.token has owns && context.token.owns.contains(context.path) };

@id("handshake")
permit(principal, action == Action::"handshake", resource == Resource::"connection")
  when { context.verified && context has certificate };

@id("risk")
forbid(principal, action, resource)
  when { context has risk && context.risk.greaterThan(decimal("0.75")) };

@id("tls13-only")
forbid(principal, action, resource) when { context has protocol && context.protocol != "TLSv1.3" };
`;

const entities = [
  { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }] },
  { uid: { type: 'Group', id: 'staff' }, attrs: {}, parents: [] },
];

function inputs(): Array<[string, AuthorizationInput]> {
  const handshake = certInput(certs.client2Cert, 'GET', '/', { trigger: 'handshake' });
  delete handshake.request;
  const tls12 = certInput(certs.clientCert, 'GET', '/docs');
  tls12.connection = { ...tls12.connection, protocol: 'TLSv1.2' };
  return [
    ['alice GET', certInput(certs.clientCert, 'GET', '/docs')],
    ['bob GET', certInput(certs.client2Cert, 'GET', '/docs')],
    ['alice GET risky', { ...certInput(certs.clientCert, 'GET', '/docs'), context: { risk: cedarDecimal(0.8) } }],
    [
      'alice GET low risk',
      {
        ...certInput(certs.clientCert, 'GET', '/docs'),
        context: { risk: cedarDecimal(0.5), device: 'laptop', tags: ['a', 'b'] },
      },
    ],
    ['token owner PUT', tokenInput({ sub: 'carol', owns: ['/notes/1'] }, 'PUT', '/notes/1')],
    ['token other PUT', tokenInput({ sub: 'carol', owns: ['/notes/1'] }, 'PUT', '/notes/2')],
    ['token no claim DELETE', tokenInput({ sub: 'dave' }, 'DELETE', '/notes/1')],
    ['handshake', handshake],
    ['alice over TLS 1.2', tls12],
    ['anonymous', tokenInput({}, 'GET', '/docs')],
  ];
}

async function compare(
  t: Test,
  embedded: Parameters<typeof evaluatePolicy>[0],
  remote: Parameters<typeof evaluatePolicy>[0],
) {
  const rows: string[] = [];
  for (const [label, input] of inputs()) {
    const a = await evaluatePolicy(embedded, input, { timeoutMs: 2_000 });
    const b = await evaluatePolicy(remote, input, { timeoutMs: 2_000 });
    t.equal(a.error, undefined, `${label}: embedded evaluated`);
    t.equal(b.error, undefined, `${label}: remote evaluated`);
    t.same({ allow: b.allow, reason: b.reason }, { allow: a.allow, reason: a.reason }, `${label}: ${a.reason}`);
    rows.push(`${label}=${a.allow}`);
  }
  return rows;
}

t.test('embedded and remote agree, and agree again after a reload', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'rules.cedar'), rules);
  writeFileSync(join(dir, 'entities.json'), JSON.stringify(entities));
  const pdp = await spawnPdp(t, dir);
  const embedded = cedarPolicy({ dir, watch: true, debounceMs: 10 });
  const remote = authzenPolicy({ url: pdp.url, timeoutMs: 2_000, headers: pdp.headers });
  t.teardown(async () => {
    embedded.close();
    await remote.close();
  });

  const before = await compare(t, embedded, remote);
  t.comment(before.join(', '));
  t.ok(
    before.includes('alice GET=true') &&
      before.includes('bob GET=false') &&
      before.includes('alice GET risky=false') &&
      before.includes('token owner PUT=true') &&
      before.includes('token other PUT=false'),
  );

  // Bob joins staff; both must see it.
  const reloaded = once(embedded, 'reload');
  replaceFile(
    join(dir, 'entities.json'),
    JSON.stringify([
      ...entities,
      { uid: { type: 'User', id: 'bob' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }] },
    ]),
  );
  await reloaded;
  const bob = certInput(certs.client2Cert, 'GET', '/docs');
  const deadline = Date.now() + 5_000;
  while (!(await evaluatePolicy(remote, bob, { timeoutMs: 2_000 })).allow) {
    if (Date.now() > deadline) throw new Error(`the pdp did not reload: ${pdp.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const after = await compare(t, embedded, remote);
  t.ok(after.includes('bob GET=true'));
  t.match(pdp.stderr(), /policies reloaded/);
});
