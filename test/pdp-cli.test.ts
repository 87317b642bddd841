// The `continuous-tls` command: usage, version, command-line errors (exit 2 naming what was wrong),
// flags -> typed pdp options, and `pdp` stopping cleanly on signals.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { tempDir } from './helpers/policy-files';
import { spawnPdp } from './helpers/policy-pdp';
import { parsePdpArgs, parseDemoArgs } from '../dist/dev/cli-args.js';

const run = promisify(execFile);
const cli = join(__dirname, '..', 'dist', 'dev', 'cli.js');

async function exitOf(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { timeout: 10_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

t.test('usage and exit codes', async (t) => {
  t.match(await exitOf(['--help']), { code: 0, stdout: /Usage: continuous-tls/ });
  t.match(await exitOf([]), { code: 2, stderr: /Usage/ });
  t.match(await exitOf(['frobnicate']), { code: 2, stderr: /Unknown command "frobnicate"/ });
  t.match(await exitOf(['pdp']), { code: 2, stderr: /--policies <dir>/ });
  t.match(await exitOf(['pdp', '--help']), { code: 0, stdout: /AuthZEN/ });
  t.match(await exitOf(['pdp', '--policies', '/nonexistent-dir-for-test', '--insecure-open']), {
    code: 1,
    stderr: /could not be read/,
  });
  const dir = tempDir(t);
  writeFileSync(join(dir, 'bad.cedar'), 'permit(principal action, resource);');
  t.match(
    await exitOf(['pdp', '--policies', dir, '--insecure-open']),
    { code: 1, stderr: /bad\.cedar:1:/ },
    'invalid policies refuse to start with file:line',
  );
});

t.test('--version prints the package version', async (t) => {
  const { version } = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  t.match(await exitOf(['--version']), { code: 0, stdout: `${version}\n` });
  t.match(await exitOf(['-v']), { code: 0, stdout: `${version}\n` });
});

t.test('command-line errors say what was wrong, exit 2 and show the usage', async (t) => {
  const usage = (command: string, error: string | RegExp) => ({
    code: 2,
    stdout: '',
    stderr: new RegExp(
      `^continuous-tls ${command}: ${typeof error === 'string' ? error.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : error.source}\n\nUsage: continuous-tls ${command}`,
    ),
  });
  t.match(
    await exitOf(['pdp', '--policies', 'p', '--port', 'abc']),
    usage('pdp', "--port must be an integer 0-65535 (got 'abc')"),
  );
  t.match(
    await exitOf(['pdp', '--policies', 'p', '--port', '70000']),
    usage('pdp', "--port must be an integer 0-65535 (got '70000')"),
  );
  t.match(
    await exitOf(['pdp', '--policies', 'p', '--max-evaluations', '1e3']),
    usage('pdp', "--max-evaluations must be a positive integer (got '1e3')"),
  );
  t.match(await exitOf(['pdp', '--policies', 'p', '--frobnicate']), usage('pdp', 'unknown flag --frobnicate'));
  t.match(await exitOf(['pdp', '--policies']), usage('pdp', '--policies needs a value'));
  t.match(await exitOf(['pdp', '--policies', 'p', 'stray']), usage('pdp', "unexpected argument 'stray'"));
  t.match(
    await exitOf(['pdp', '--policies', 'p', '--insecure-open=yes']),
    usage('pdp', '--insecure-open takes no value'),
  );
  t.match(
    await exitOf(['pdp', '--policies', 'p', '--key', '/nonexistent/k.pem', '--cert', '/nonexistent/c.pem']),
    usage('pdp', /--key \/nonexistent\/k\.pem could not be read \(ENOENT\)/),
  );
  t.match(await exitOf(['demo', '--loud']), usage('demo', 'unknown flag --loud'));
  t.match(await exitOf(['--frobnicate']), { code: 2, stderr: /Unknown flag "--frobnicate"[^]*Usage: continuous-tls/ });
});

t.test('pdp flags become typed startPdpServer options', async (t) => {
  const dir = tempDir(t);
  const tokenFile = join(dir, 'tokens');
  writeFileSync(tokenFile, 'a-token-of-sixteen-chars\n\n');
  t.same(parsePdpArgs(['--help'], {}), { help: true });
  const parsed = parsePdpArgs(
    ['--policies', dir, '--port', '8181', '--host', '::1', '--token-file', tokenFile, '--max-body-bytes', '4096'],
    { CONTINUOUS_TLS_PDP_TOKEN: 'another-token-16-chars' },
  );
  t.same(parsed, {
    help: false,
    options: {
      policies: dir,
      port: 8181,
      host: '::1',
      tokens: ['a-token-of-sixteen-chars', 'another-token-16-chars'],
      limits: { maxBodyBytes: 4096 },
    },
  });
  t.same(parsePdpArgs(['--policies', dir, '--insecure-open'], {}), {
    help: false,
    options: { policies: dir, port: 0, insecureOpen: true, limits: {} },
  });
  t.throws(() => parsePdpArgs(['--policies', dir, '--crl', 'x'], {}), {
    name: 'UsageError',
    message: '--crl needs --ca (it revokes client certificates)',
  });
  t.same(parseDemoArgs(['--quiet']), { help: false, quiet: true });
  t.same(parseDemoArgs([]), { help: false, quiet: false });
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  t.test(`pdp stops cleanly on ${signal}`, async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
    const pdp = await spawnPdp(t, dir);
    const res = await fetch(`${pdp.url}/access/v1/evaluation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'r-1', ...pdp.headers },
      body: JSON.stringify({
        subject: { type: 'User', id: 'a' },
        action: { name: 'GET' },
        resource: { type: 'Resource', id: '/' },
      }),
    });
    t.equal(res.headers.get('x-request-id'), 'r-1');
    t.match(await res.json(), { decision: true });
    const exited = new Promise<number | null>((r) => pdp.proc.once('exit', (code) => r(code)));
    pdp.proc.kill(signal);
    t.equal(await exited, 0);
  });
}

t.test('the pdp rejects malformed AuthZEN requests with 400', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
  const pdp = await spawnPdp(t, dir);
  const post = (path: string, body: string) =>
    fetch(pdp.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...pdp.headers }, body });
  t.equal((await post('/access/v1/evaluation', '{nope')).status, 400);
  t.equal((await post('/access/v1/evaluation', '{"subject":{"type":"User"}}')).status, 400);
  t.equal((await fetch(`${pdp.url}/access/v1/evaluation`, { headers: pdp.headers })).status, 405);
  t.equal((await post('/elsewhere', '{}')).status, 404);
  const many = await post(
    '/access/v1/evaluations',
    JSON.stringify({
      subject: { type: 'User', id: 'a' },
      action: { name: 'GET' },
      evaluations: [
        { resource: { type: 'Resource', id: '/1' } },
        { resource: { type: 'Resource', id: '/2' }, action: { name: 'PUT' } },
      ],
    }),
  );
  t.match(await many.json(), { evaluations: [{ decision: true }, { decision: true }] });
});

t.test('pdp requires authentication: a token file, the environment, mTLS, or a loud --insecure-open', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
  t.match(
    await exitOf(['pdp', '--policies', dir]),
    { code: 1, stderr: /insecureOpen/ },
    'no authentication chosen: refuses to start',
  );
  t.match(await exitOf(['pdp', '--policies', dir, '--ca', 'x.pem']), {
    code: 2,
    stderr: /--ca needs --key and --cert/,
  });
  t.match(await exitOf(['pdp', '--policies', dir, '--port', 'x', '--insecure-open']), {
    code: 2,
    stderr: /--port must be an integer/,
  });
  const empty = join(dir, 'empty-token');
  writeFileSync(empty, '\n');
  t.match(await exitOf(['pdp', '--policies', dir, '--token-file', empty]), { code: 2, stderr: /holds no token/ });

  const open = await spawnPdp(t, dir, ['--insecure-open']);
  // stderr and stdout are separate pipes: the warning may arrive just after the URL.
  for (let i = 0; i < 100 && !open.stderr().includes('WARNING'); i++) await new Promise((r) => setTimeout(r, 50));
  t.match(open.stderr(), /WARNING: --insecure-open: no authentication/);
  t.equal(
    (await fetch(`${open.url}/access/v1/evaluation`, { method: 'POST', body: JSON.stringify(body) })).status,
    200,
  );

  const closed = await spawnPdp(t, dir);
  t.notMatch(closed.stderr(), /WARNING/);
  t.equal(
    (await fetch(`${closed.url}/access/v1/evaluation`, { method: 'POST', body: JSON.stringify(body) })).status,
    401,
  );
  t.equal(
    (
      await fetch(`${closed.url}/access/v1/evaluation`, {
        method: 'POST',
        headers: closed.headers,
        body: JSON.stringify(body),
      })
    ).status,
    200,
  );
  t.equal((await fetch(`${closed.url}/healthz`)).status, 200);
});

const body = { subject: { type: 'User', id: 'a' }, action: { name: 'GET' }, resource: { type: 'Resource', id: '/' } };
