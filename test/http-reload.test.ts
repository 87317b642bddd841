// Hot reload of a Cedar file under a running request loop (Express over node:https, mTLS, decision
// cache on): no request fails and none is allowed by a policy that was not in force while it ran.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import t from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { DecisionCache } from '../dist/policy/cache.js';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';
import { client, serverTls } from './helpers/policy-https';
import { once, replaceFile, tempDir } from './helpers/policy-files';

/** Version n lets alice GET /v<n> and nothing else. */
const version = (n: number) =>
  `@id("v${n}")\npermit(principal == User::"alice", action == Action::"GET", resource == Resource::"/v${n}");\n`;
const VERSIONS = 8;
const WORKERS = 8;

t.test('reloading policies while requests run', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'api.cedar');
  writeFileSync(file, version(1));
  const cedar = cedarPolicy({ file, watch: true, debounceMs: 5 });
  t.teardown(() => cedar.close());
  let live = 1;
  cedar.on('reload', (info) => {
    live = info.version;
  });
  const loadErrors: unknown[] = [];
  cedar.on('error', (e) => loadErrors.push(e));

  const cache = new DecisionCache();
  const app = express();
  app.use(authorizeRequest({ policy: cedar, cache, exposeReason: true }).express());
  app.get('/{*path}', (_req, res) => {
    res.send('ok');
  });
  const server = https.createServer(serverTls, app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const get = client(t, `https://127.0.0.1:${(server.address() as AddressInfo).port}`, 'alice');

  interface Row {
    k: number;
    from: number;
    to: number;
    status: number;
    detail?: string;
  }
  const rows: Row[] = [];
  const failures: string[] = [];
  let running = true;
  const worker = async (w: number) => {
    for (let i = 0; running; i++) {
      const from = live;
      // Alternate between the current version's path and the previous one's.
      const k = (i + w) % 2 === 0 ? from : Math.max(from - 1, 1);
      try {
        const r = await get('GET', `/v${k}`);
        const row: Row = { k, from, to: live, status: r.status };
        if (r.status !== 200) row.detail = String(r.json()['detail']);
        rows.push(row);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));

  const waitForRequests = async (n: number) => {
    const target = rows.length + n;
    const deadline = Date.now() + 5_000;
    while (rows.length < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  };
  for (let n = 2; n <= VERSIONS; n++) {
    await waitForRequests(40);
    const reloaded = once(cedar, 'reload');
    if (n % 3 === 0) {
      // An invalid version first: it must be reported and change nothing.
      const failed = once(cedar, 'error');
      replaceFile(file, 'permit(principal, action, resource'); // unterminated
      await failed;
    }
    replaceFile(file, version(n));
    await reloaded;
  }
  await waitForRequests(40);
  running = false;
  await Promise.all(workers);

  t.same(failures, [], 'no request failed');
  t.equal(live, VERSIONS);
  t.ok(loadErrors.length >= 2, 'the invalid versions were reported');
  const wrong: Row[] = [];
  for (const row of rows) {
    const stable = row.from === row.to; // no reload while the request ran
    if (row.status !== 200 && row.status !== 403) wrong.push(row);
    else if (row.detail !== undefined && !row.detail.startsWith('cedar: '))
      wrong.push(row); // policy-error, timeout …
    else if (row.status === 200 && (row.k < row.from || row.k > row.to))
      wrong.push(row); // allowed by a version not in force
    else if (stable && (row.status === 200) !== (row.k === row.from)) wrong.push(row); // stable period: exact answer
  }
  t.same(wrong.slice(0, 5), [], `${wrong.length} of ${rows.length} answers inconsistent with the policy in force`);
  const stats = cache.stats();
  t.ok(stats.hits > rows.length / 2, `the cache answered ${stats.hits} of ${rows.length}`);
  t.ok(stats.flushes >= VERSIONS - 1, `flushed on every reload (${stats.flushes})`);
  t.comment(`${rows.length} requests across ${VERSIONS - 1} reloads`);
});
