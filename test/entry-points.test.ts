// `continuous-tls/policy` and `continuous-tls/http` work in a copy of the package that has no
// addon at all (no build/, no prebuilds/), from CommonJS and from an ES module: a REST API on plain
// node:https needs no C++ build. The main entry, which does need the addon, fails there with
// ERR_CTLS_NATIVE_LOAD, which shows the copy really has none.
import t from 'tap';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..');

function run(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env['CONTINUOUS_TLS_ADDON'];
    execFile(process.execPath, args, { cwd, env, timeout: 30_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

// A request through authorizeRequest on plain node:http, and a composed policy evaluated directly.
const program = (load: (name: string) => string): string => `
  (async () => {
    const http = await import('node:http');
    const { authorizeRequest } = ${load('continuous-tls/http')};
    const { allOf, evaluatePolicy } = ${load('continuous-tls/policy')};
    const policy = allOf((input) => input.request.method === 'GET', (input) => input.request.path !== '/admin');
    const direct = await evaluatePolicy(policy, {
      trigger: 'request', peer: { chain: [], verified: false }, connection: { ageMs: 0, reauthCount: 0 },
      request: { method: 'GET', path: '/admin', headers: {} }, context: {},
    });
    const guard = authorizeRequest({ policy });
    const server = http.createServer(guard.node((req, res) => res.end('ok')));
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = 'http://127.0.0.1:' + server.address().port;
    const statuses = [];
    for (const path of ['/items', '/admin']) statuses.push((await fetch(base + path)).status);
    server.close();
    const native = Object.keys(require('node:module')._cache ?? {}).filter((file) => file.endsWith('.node'));
    console.log(JSON.stringify({ direct: direct.allow, statuses, native }));
  })().catch((error) => { console.log(JSON.stringify({ error: error.code ?? error.message })); });
`;

t.test('the policy and http entries load and work without the addon', async (t) => {
  const copy = mkdtempSync(join(tmpdir(), 'ctls-entries-'));
  t.teardown(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(join(root, 'dist'), join(copy, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(copy, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');

  const cjs = await run(['-e', program((name) => `require('${name}')`)], copy);
  const esm = await run(
    [
      '--input-type=module',
      '-e',
      `import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);\n` +
        program((name) => `(await import('${name}'))`),
    ],
    copy,
  );
  for (const [how, result] of [
    ['require', cjs],
    ['import', esm],
  ] as const) {
    t.equal(result.code, 0, `${how}: exits cleanly`, { stderr: result.stderr });
    const report = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    t.same(
      report,
      { direct: false, statuses: [200, 403], native: [] },
      `${how}: policies decide, requests are authorized, no addon loaded`,
    );
  }

  const main = await run(
    ['-e', `try { require('continuous-tls'); console.log('loaded') } catch (e) { console.log(e.code) }`],
    copy,
  );
  t.equal(main.stdout.trim(), 'ERR_CTLS_NATIVE_LOAD', 'the copy has no addon: the main entry cannot load');
});
