// `npm run bench` itself (issue 5, points 1-2): --only runs just the named metrics, side by side with
// node:tls in one run; the table on stdout carries each figure with its ratio to node:tls; the JSON
// and the SVG land in --out; a progress line names what runs; bad arguments exit 2. No figure is
// judged here: speed is the benchmark's business, not the suite's.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..');

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(root, 'bench', 'run.js'), ...args], { cwd: root, timeout: 90_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') return reject(error);
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

interface Metric {
  id: string;
  values: Record<string, unknown>;
  ratioVsNode: number | null;
}

t.test('--quick --only bulk,decision: those metrics only, each tier in one run, table, JSON and SVG', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'ctls-bench-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const run = await bench(['--quick', '--only', 'bulk,decision', '--out', out]);
  t.equal(run.code, 0, 'exits 0', { stderr: run.stderr });
  const output = run.stdout + run.stderr;
  t.match(output, /\[bench\s+[\d.]+ s\] bulk client->server: owned/, 'a progress line names what runs');
  t.match(run.stdout, /owned\s+node:tls\s+attached\s+owned vs node/, 'the table compares with node:tls');

  const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as { meta: { mode: string; machine: string }; metrics: Metric[] };
  t.equal(report.meta.mode, 'quick');
  t.match(report.meta.machine, /Node v\d+.*OpenSSL \d/, 'the machine, Node and OpenSSL are recorded');
  const ids = report.metrics.map((metric) => metric.id);
  t.ok(ids.includes('bulk-up') && ids.includes('bulk-down') && ids.includes('decision-cedar'), 'the named metrics ran');
  t.notOk(ids.some((id) => /^(handshakes|rps|echo|fresh|revalidate|rest)/.test(id)), 'and nothing else');
  const bulk = report.metrics.find((metric) => metric.id === 'bulk-up')!;
  for (const tier of ['owned', 'node', 'attached']) t.type(bulk.values[tier], 'number', `bulk measured for ${tier}`);
  t.type(bulk.ratioVsNode, 'number', 'with its ratio to node:tls from the same run');
  t.match(readFileSync(join(out, 'latest.svg'), 'utf8'), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"[\s\S]*<\/svg>\s*$/, 'an SVG chart');
});

t.test('an unknown metric name is refused with exit status 2 and the list of names', async (t) => {
  const run = await bench(['--only', 'nonsense']);
  t.equal(run.code, 2);
  t.match(run.stdout + run.stderr, /unknown metric "nonsense" \(known: handshakes, bulk, rps, reauth, revalidate, decision, rest\)/);
});
