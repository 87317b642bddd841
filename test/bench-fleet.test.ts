// `npm run bench -- --only fleet`: the fleet rows run on a private redis-server and report
// absolute figures with their spread and a verdict for each goal; without redis-server they are
// skipped with a line saying how to get it. No figure is judged here: speed is the benchmark's
// business, not the suite's.
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findRedisServer } from '../dist/dev/demo-fleet-redis.js';

const root = join(__dirname, '..');

function bench(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    execFile(
      process.execPath,
      [join(root, 'bench', 'run.js'), ...args],
      { cwd: root, env, timeout: 110_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') return reject(error);
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}

interface Row {
  id: string;
  samples: Record<string, number[]>;
  spread: Record<string, { median: number; lo: number; hi: number } | null>;
  ratios: Record<string, unknown>;
  target?: { verdict: string | null };
}

function outDir(t: Test): string {
  const out = mkdtempSync(join(tmpdir(), 'ctls-bench-fleet-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  return out;
}

const noRedis = findRedisServer() === undefined ? 'redis-server is not installed' : false;

t.test(
  '--quick --only fleet: latency, burst and judge() rows with their spread and goals',
  { skip: noRedis },
  async (t) => {
    const out = outDir(t);
    const run = await bench(['--quick', '--only', 'fleet', '--rounds', '2', '--warmup', '0', '--out', out]);
    t.equal(run.code, 0, 'exits 0', { stderr: run.stderr });
    t.match(run.stdout, /fleet \(absolute figures, spread over rounds; no node:tls counterpart\)/);
    const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as {
      metrics: Row[];
      targets: Array<{ id: string; verdict: string | null }>;
    };
    const ids = report.metrics.map((row) => row.id);
    for (const n of [1, 4, 8]) {
      t.ok(ids.includes(`fleet-latency-${n}-p50`) && ids.includes(`fleet-latency-${n}-p99`), `latency with ${n}`);
    }
    for (const id of ['fleet-burst-last-cut', 'fleet-burst-recheck-cpu', 'fleet-judge-small', 'fleet-judge-ratio']) {
      const row = report.metrics.find((r) => r.id === id);
      t.equal(row?.samples['owned']?.length, 2, `${id}: one sample per round`);
      t.ok(
        row?.samples['owned']?.every((v) => v > 0),
        `${id}: positive figures`,
      );
      t.type(row?.spread['owned']?.lo, 'number', `${id}: with its spread`);
      t.same(row?.ratios, {}, `${id}: no ratio against node:tls`);
    }
    for (const id of ['fleet-latency', 'fleet-burst', 'fleet-judge']) {
      t.match(report.targets.find((x) => x.id === id)?.verdict, /^(met|not met|inside noise)$/, `goal ${id} judged`);
    }
    t.match(run.stdout, /\[(MET|NOT MET|INSIDE NOISE)\] fleet publish-to-cut p99 < 50 ms across 8 processes/);
    t.match(run.stdout, /\[(MET|NOT MET|INSIDE NOISE)\] affected-only re-decision < 10 ms per process/);
    t.match(run.stdout, /re-deciding 25\+25\+25\+25 \(every round\) of its 150 connections per round/);
  },
);

t.test('without redis-server the fleet rows are skipped with a line saying how to get it', async (t) => {
  const out = outDir(t);
  const run = await bench(['--quick', '--only', 'fleet', '--rounds', '1', '--warmup', '0', '--out', out], {
    ...process.env,
    PATH: '',
  });
  t.equal(run.code, 0, 'exits 0', { stderr: run.stderr });
  t.match(run.stdout, /fleet rows skipped: redis-server is not on PATH \(install redis-server \(.*apt-get/);
  const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as { metrics: Row[] };
  t.same(
    report.metrics.map((row) => row.id),
    ['fleet-skipped'],
  );
});
