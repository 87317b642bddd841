// The `continuous-tls` command: usage, unknown commands, and `pdp` stopping cleanly on signals.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { tempDir } from './helpers/policy-files';
import { spawnPdp } from './helpers/policy-pdp';

const run = promisify(execFile);
const cli = join(__dirname, '..', 'dist', 'cli.js');

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
  t.match(await exitOf(['pdp', '--policies', '/nonexistent-dir-for-test']), { code: 1, stderr: /could not be read/ });
  const dir = tempDir(t);
  writeFileSync(join(dir, 'bad.cedar'), 'permit(principal action, resource);');
  t.match(await exitOf(['pdp', '--policies', dir]), { code: 1, stderr: /bad\.cedar:1:/ }, 'invalid policies refuse to start with file:line');
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  t.test(`pdp stops cleanly on ${signal}`, async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
    const pdp = await spawnPdp(t, dir);
    const res = await fetch(`${pdp.url}/access/v1/evaluation`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'r-1' },
      body: JSON.stringify({ subject: { type: 'User', id: 'a' }, action: { name: 'GET' }, resource: { type: 'Resource', id: '/' } }),
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
  const post = (path: string, body: string) => fetch(pdp.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  t.equal((await post('/access/v1/evaluation', '{nope')).status, 400);
  t.equal((await post('/access/v1/evaluation', '{"subject":{"type":"User"}}')).status, 400);
  t.equal((await fetch(`${pdp.url}/access/v1/evaluation`)).status, 405);
  t.equal((await post('/elsewhere', '{}')).status, 404);
  const many = await post('/access/v1/evaluations', JSON.stringify({
    subject: { type: 'User', id: 'a' }, action: { name: 'GET' },
    evaluations: [{ resource: { type: 'Resource', id: '/1' } }, { resource: { type: 'Resource', id: '/2' }, action: { name: 'PUT' } }],
  }));
  t.match(await many.json(), { evaluations: [{ decision: true }, { decision: true }] });
});
