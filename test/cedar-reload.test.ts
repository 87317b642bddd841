// Cedar hot reload from a watched file or directory: atomic swap, invalid files keep the old set.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { once, replaceFile, tempDir } from './helpers/policy-files';
import { tokenInput } from './helpers/policy-input';

/** Version n permits GET /v<n> only, under a policy id naming the version. */
const version = (n: number) =>
  `@id("v${n}")\npermit(principal, action == Action::"GET", resource == Resource::"/v${n}");\n`;

t.test('a watched file is swapped on change; onChange and reload fire', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'authz.cedar');
  writeFileSync(file, version(1));
  const cedar = cedarPolicy({ file, watch: true, debounceMs: 10 });
  t.teardown(() => cedar.close());
  let changes = 0;
  cedar.onChange(() => changes++);
  // The first call also instantiates the wasm module: give it more than the default 200 ms on a loaded machine.
  t.match(await evaluatePolicy(cedar, tokenInput({ sub: 'u' }, 'GET', '/v1'), { timeoutMs: 10_000 }), {
    allow: true,
    reason: 'cedar: permit v1',
  });

  const reloaded = once<{ version: number; sources: string[] }>(cedar, 'reload');
  replaceFile(file, version(2));
  t.match(await reloaded, { version: 2, sources: ['authz.cedar'] });
  t.equal(changes, 1);
  t.match(await evaluatePolicy(cedar, tokenInput({ sub: 'u' }, 'GET', '/v1')), { allow: false });
  t.match(await evaluatePolicy(cedar, tokenInput({ sub: 'u' }, 'GET', '/v2')), {
    allow: true,
    reason: 'cedar: permit v2',
  });

  const reloadedInPlace = once(cedar, 'reload');
  writeFileSync(file, version(3));
  await reloadedInPlace;
  t.match(
    await evaluatePolicy(cedar, tokenInput({ sub: 'u' }, 'GET', '/v3')),
    { allow: true },
    'an in-place write is seen too',
  );
});

t.test('an invalid file keeps the old set and emits error with diagnostics', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'authz.cedar');
  writeFileSync(file, version(1));
  const cedar = cedarPolicy({ file, watch: true, debounceMs: 10 });
  t.teardown(() => cedar.close());
  let changes = 0;
  cedar.onChange(() => changes++);
  const failed = once<{ code: string; diagnostics: unknown[] }>(cedar, 'error');
  replaceFile(file, version(1) + 'permit(principal action, resource);\n');
  const err = await failed;
  t.match(err, {
    code: 'ERR_CTLS_CEDAR',
    diagnostics: [{ source: 'authz.cedar', line: 3, message: /unexpected token/ }],
  });
  t.equal(changes, 0);
  t.equal(cedar.version, 1);
  t.match(await evaluatePolicy(cedar, tokenInput({ sub: 'u' }, 'GET', '/v1')), {
    allow: true,
    reason: 'cedar: permit v1',
  });
  // A later valid file is loaded again.
  const reloaded = once(cedar, 'reload');
  replaceFile(file, version(2));
  await reloaded;
  t.equal(cedar.version, 2);
});

t.test('without an error listener a bad reload warns instead of crashing', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'authz.cedar');
  writeFileSync(file, version(1));
  const cedar = cedarPolicy({ file, watch: true, debounceMs: 10 });
  t.teardown(() => cedar.close());
  const warned = once<Error & { code?: string }>(process, 'warning');
  replaceFile(file, 'garbage');
  t.match(await warned, { code: 'ERR_CTLS_CEDAR' });
  t.equal(cedar.version, 1);
});

t.test('a directory: all *.cedar files, entities.json, new files picked up', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.cedar'), 'permit(principal in Group::"staff", action == Action::"GET", resource);');
  writeFileSync(
    join(dir, 'entities.json'),
    JSON.stringify([{ uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }] }]),
  );
  writeFileSync(join(dir, 'notes.txt'), 'ignored');
  const cedar = cedarPolicy({ dir, watch: true, debounceMs: 10 });
  t.teardown(() => cedar.close());
  t.same(cedar.policyIds, ['a.cedar#0']);
  t.match(await evaluatePolicy(cedar, tokenInput({ sub: 'alice' }, 'GET', '/x')), {
    allow: true,
    reason: 'cedar: permit a.cedar#0',
  });
  t.match(await evaluatePolicy(cedar, tokenInput({ sub: 'bob' }, 'GET', '/x')), { allow: false });

  const reloaded = once(cedar, 'reload');
  replaceFile(join(dir, 'b.cedar'), 'forbid(principal == User::"alice", action, resource == Resource::"/secret");');
  await reloaded;
  t.same(cedar.policyIds, ['a.cedar#0', 'b.cedar#0']);
  t.match(await evaluatePolicy(cedar, tokenInput({ sub: 'alice' }, 'GET', '/secret')), {
    allow: false,
    reason: 'cedar: forbid b.cedar#0',
  });

  const reloadedEntities = once(cedar, 'reload');
  replaceFile(
    join(dir, 'entities.json'),
    JSON.stringify([{ uid: { type: 'User', id: 'bob' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }] }]),
  );
  await reloadedEntities;
  t.match(await evaluatePolicy(cedar, tokenInput({ sub: 'bob' }, 'GET', '/x')), { allow: true }, 'entities reloaded');
  t.match(await evaluatePolicy(cedar, tokenInput({ sub: 'alice' }, 'GET', '/x')), { allow: false });
});

t.test('reloads during a decision loop: every decision comes from the set in force, none fails', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'authz.cedar');
  writeFileSync(file, version(1));
  const cedar = cedarPolicy({ file, watch: true, debounceMs: 5 });
  t.teardown(() => cedar.close());
  const errors: unknown[] = [];
  cedar.on('error', (e) => errors.push(e));

  // The version in force right now, as the policy itself reports it.
  let live = 1;
  cedar.on('reload', (info) => {
    live = info.version;
  });
  let running = true;
  let decisions = 0;
  const mistakes: string[] = [];
  const loop = (async () => {
    while (running) {
      for (let i = 0; i < 20; i++) {
        const n = live;
        // Ask for the current version's path and the previous one's: exactly the first is allowed.
        const cur = await evaluatePolicy(cedar, tokenInput({ sub: 'u' }, 'GET', `/v${n}`));
        const old = await evaluatePolicy(cedar, tokenInput({ sub: 'u' }, 'GET', `/v${n - 1}`));
        decisions += 2;
        if (!cur.allow || cur.reason !== `cedar: permit v${n}`) mistakes.push(`v${n} current: ${cur.reason}`);
        if (old.allow) mistakes.push(`v${n} previous allowed: ${old.reason}`);
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  for (let n = 2; n <= 8; n++) {
    const reloaded = once(cedar, 'reload');
    if (n === 5) replaceFile(file, 'this is not cedar'); // an invalid write in the middle
    replaceFile(file, version(n));
    await reloaded;
  }
  running = false;
  await loop;
  t.same(mistakes, []);
  t.equal(live, 8);
  t.ok(decisions > 100, `${decisions} decisions during the reloads`);
  t.comment(`${decisions} decisions, ${errors.length} invalid intermediate files reported`);
});
