/**
 * node:cluster workers behind one port, each a member of the fleet with its own owned Server: a
 * subject revoked anywhere cuts that subject's connections on whichever worker holds them, and no
 * other connection.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { haveRedis, startRedis } from './helpers/redis';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('a revoked subject is cut on every worker that holds its connections', async (t) => {
  const redis = await startRedis(t);
  const script = join(__dirname, 'helpers', 'fleet-cluster.mjs');
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile(process.execPath, [script, redis.url, 'cluster'], { timeout: 60_000 }, (error, out, err) =>
      error === null ? resolve(out) : reject(new Error(`${error.message}\n${err}`)),
    );
    t.teardown(() => child.kill('SIGKILL'));
  });
  const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    workers: number[];
    clients: Array<{ who: string; pid: number; state: string }>;
  };
  const bobWorkers = new Set(report.clients.filter((c) => c.who === 'bob').map((c) => c.pid));
  t.ok(bobWorkers.size >= 2, `bob's connections were spread over ${bobWorkers.size} workers`);
  for (const client of report.clients)
    t.equal(client.state, client.who === 'bob' ? 'closed' : 'open', `${client.who} on worker ${client.pid}`);
});
