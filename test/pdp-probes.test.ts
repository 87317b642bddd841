// The decision point's probes: /healthz answers while the process is up, /readyz while the policies in
// force are the directory's (503 from a failed reload until the directory is fixed or reverted). Both
// answer without authentication and say nothing about the policies.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startPdpServer, type PdpServer } from '../dist/dev/pdp-server.js';
import { replaceFile, tempDir } from './helpers/policy-files';

const TOKEN = 'a-test-token-of-enough-length';
const GOOD = '@id("open") permit(principal, action, resource);';
// A broken policy whose text, id and file name must not reach an unauthenticated probe.
const BAD = '@id("secret-rule-7") permit(principal == User::"top-secret-principal" action, resource);';

async function probe(server: PdpServer, path: string): Promise<{ status: number; text: string; cache: string | null }> {
  const res = await fetch(server.url + path);
  return { status: res.status, text: await res.text(), cache: res.headers.get('cache-control') };
}

async function decide(server: PdpServer): Promise<number> {
  const res = await fetch(`${server.url}/access/v1/evaluation`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({
      subject: { type: 'User', id: 'a' },
      action: { name: 'GET' },
      resource: { type: 'R', id: '/' },
    }),
  });
  return ((await res.json()) as { decision: boolean }).decision ? 200 : 403;
}

t.test('ready, then not ready after a failed reload, ready again once reverted or fixed', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'main.cedar'), GOOD);
  const server = await startPdpServer({ policies: dir, watch: false, tokens: [TOKEN] });
  t.teardown(() => server.close());

  t.same(
    await probe(server, '/healthz'),
    { status: 200, text: '{"status":"ok"}', cache: 'no-store' },
    'no token needed',
  );
  t.same(await probe(server, '/readyz'), { status: 200, text: '{"status":"ready"}', cache: 'no-store' });
  t.equal((await fetch(`${server.url}/readyz?verbose=1`)).status, 200, 'a query string changes nothing');

  writeFileSync(join(dir, 'main.cedar'), BAD);
  t.equal(await server.reload(), false, 'the broken set is not loaded');
  const notReady = await probe(server, '/readyz');
  t.same(notReady, {
    status: 503,
    text: '{"status":"not_ready","reason":"reload_failed"}',
    cache: 'no-store',
  });
  t.notMatch(notReady.text, /secret|main\.cedar|principal/, 'no policy text, id or file name');
  t.equal((await probe(server, '/healthz')).status, 200, 'still alive');
  t.equal(await decide(server), 200, 'the previous set keeps deciding');

  // Reverting to the text in force loads nothing and emits nothing; readiness still comes back.
  writeFileSync(join(dir, 'main.cedar'), GOOD);
  t.equal(await server.reload(), false, 'nothing new to load');
  t.equal((await probe(server, '/readyz')).status, 200, 'ready: the directory is the set in force again');

  writeFileSync(join(dir, 'main.cedar'), BAD);
  await server.reload();
  t.equal((await probe(server, '/readyz')).status, 503);
  writeFileSync(join(dir, 'main.cedar'), 'forbid(principal, action, resource);');
  t.equal(await server.reload(), true, 'a fixed set loads');
  t.equal((await probe(server, '/readyz')).status, 200);
  t.equal(await decide(server), 403, 'and decides');
});

t.test('the directory watch drives readiness', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'main.cedar'), GOOD);
  const server = await startPdpServer({ policies: dir, tokens: [TOKEN] });
  t.teardown(() => server.close());
  const until = async (status: number): Promise<void> => {
    const deadline = Date.now() + 5_000;
    while ((await probe(server, '/readyz')).status !== status) {
      if (Date.now() > deadline) throw new Error(`/readyz did not answer ${status}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  replaceFile(join(dir, 'main.cedar'), BAD);
  await until(503);
  t.pass('not ready after a broken change');
  replaceFile(join(dir, 'main.cedar'), GOOD);
  await until(200);
  t.pass('ready after the revert');
  writeFileSync(join(dir, 'notes.txt'), 'not a policy file');
  t.equal((await probe(server, '/readyz')).status, 200);
});

t.test('an open server answers probes the same', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'main.cedar'), GOOD);
  const server = await startPdpServer({ policies: dir, watch: false, insecureOpen: true });
  t.teardown(() => server.close());
  t.equal((await probe(server, '/readyz')).text, '{"status":"ready"}');
  t.equal((await fetch(`${server.url}/readyz`, { method: 'HEAD' })).status, 200, 'HEAD too');
});
