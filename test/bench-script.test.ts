// `npm run bench` itself: --only runs just the named metrics; every comparison carries its A/A
// control and each ratio its interval over rounds; targets read met / not met / inside noise; the
// table, the JSON (also to --json) and the SVG land where they should; bad arguments exit 2. No
// figure is judged here: speed is the benchmark's business, not the suite's.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..');

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(root, 'bench', 'run.js'), ...args],
      { cwd: root, timeout: 100_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') return reject(error);
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}

interface Interval {
  median: number;
  lo: number;
  hi: number;
  effLo: number;
  effHi: number;
  n: number;
  method: string;
  mark: string;
}

interface Metric {
  id: string;
  values: Record<string, unknown>;
  samples: Record<string, unknown[]>;
  ratios: Record<string, Interval>;
  aa: Interval | null;
  noise: number | null;
  control: string[] | null;
  target?: { verdict: string | null };
}

interface Report {
  meta: {
    mode: string;
    machine: string;
    rounds: number;
    warmup: number;
    pinning: string;
    interval: string;
    command: string;
  };
  metrics: Metric[];
  targets: { id: string; verdict: string | null }[];
}

t.test('--quick --only rps,decision: those metrics only, A/A control and intervals, table, JSON and SVG', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'ctls-bench-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const jsonFile = join(out, 'elsewhere', 'run.json');
  const run = await bench([
    '--quick',
    '--only',
    'rps,decision',
    '--rounds',
    '2',
    '--warmup',
    '0',
    '--out',
    out,
    '--json',
    jsonFile,
  ]);
  t.equal(run.code, 0, 'exits 0', { stderr: run.stderr });
  t.match(
    run.stderr,
    /\[bench\s+[\d.]+ s\] round trips: node:tls \(A\/A twin\) \(round \d\/2\)/,
    'a progress line names the arm and round',
  );
  t.match(
    run.stdout,
    /owned\s+node:tls\s+attached\s+owned vs node\s+attached vs node\s+A\/A noise\s+target/,
    'the table compares with node:tls beside the noise floor',
  );
  t.match(run.stdout, /\d\.\d\dx \[\d+\.\d\d–\d+\.\d\d\] [+~-]/, 'ratios come with their interval and a noise mark');
  t.match(run.stdout, /(server pinned to CPU \d+, client to CPU \d+|not pinned \()/, 'pinning, or why not, is stated');
  t.match(
    run.stdout,
    /\[(MET|NOT MET|INSIDE NOISE)\] Cedar decision < 20 µs/,
    'targets read met, not met or inside noise',
  );

  const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as Report;
  t.same(JSON.parse(readFileSync(jsonFile, 'utf8')), report, '--json writes the same document');
  t.equal(report.meta.mode, 'quick');
  t.equal(report.meta.rounds, 2);
  t.equal(report.meta.warmup, 0);
  t.match(report.meta.interval, /min–max/, 'two rounds are too few for a bootstrap');
  t.match(report.meta.machine, /Node v\d+.*OpenSSL \d/, 'the machine, Node and OpenSSL are recorded');
  t.notMatch(report.meta.command, /--out|--json/, 'the command line leaves out where files went');
  const ids = report.metrics.map((metric) => metric.id);
  t.ok(ids.includes('rps') && ids.includes('rps-cpu') && ids.includes('decision-cedar'), 'the named metrics ran');
  t.notOk(
    ids.some((id) => /^(handshake|bulk|echo|fresh|revalidate|rest|idle)/.test(id)),
    'and nothing else',
  );

  const cpu = report.metrics.find((metric) => metric.id === 'rps-cpu')!;
  for (const arm of ['owned', 'node', 'node-aa', 'attached']) {
    t.equal(cpu.samples[arm]?.length, 2, `one sample per round for ${arm}`);
    t.type(cpu.values[arm], 'number', `a median for ${arm}`);
  }
  t.same(cpu.control, ['node', 'node-aa'], 'the A/A control is node:tls against its twin');
  t.type(cpu.aa?.median, 'number', 'with its own ratio');
  t.type(cpu.noise, 'number', 'and the noise floor it gives');
  const ratio = cpu.ratios['owned vs node']!;
  t.ok(ratio.lo <= ratio.median && ratio.median <= ratio.hi, 'the ratio sits inside its interval');
  t.ok(ratio.effLo <= ratio.lo && ratio.effHi >= ratio.hi, 'the noise only widens the interval');
  t.equal(ratio.n, 2);

  const cedar = report.metrics.find((metric) => metric.id === 'decision-cedar')!;
  t.same(cedar.control, ['owned', 'owned-aa'], 'without a node:tls counterpart, the library is its own A/A control');
  t.match(cedar.target?.verdict, /^(met|not met|inside noise)$/);
  t.match(
    readFileSync(join(out, 'latest.svg'), 'utf8'),
    /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"[\s\S]*<\/svg>\s*$/,
    'an SVG chart',
  );
});

t.test('the verdict rule: met only when the whole noise-widened interval clears the bar', async (t) => {
  const stats = require(join(root, 'bench', 'lib', 'stats.js'));
  const aa = stats.interval([0.98, 1.03, 1.01]);
  const noise = stats.noiseOf(aa);
  t.ok(Math.abs(noise - 0.03) < 1e-9, 'the A/A noise is its largest drift from 1.00x');
  const ratio = stats.withNoise(stats.interval([1.1, 1.12, 1.08]), noise);
  t.equal(stats.verdict(ratio, 0.95), 'met');
  t.equal(stats.verdict(ratio, 1.2), 'not met');
  t.equal(stats.verdict(ratio, 1.1), 'inside noise');
  t.equal(stats.interval([1, 2, 3, 4, 5, 6, 7, 8]).method, 'bootstrap95', 'from 6 rounds up, a bootstrap interval');
  t.same(
    stats.interval([1, 2, 3, 4, 5, 6, 7, 8]),
    stats.interval([1, 2, 3, 4, 5, 6, 7, 8]),
    'seeded: the same rounds give the same interval',
  );
});

t.test('bad arguments are refused with exit status 2', async (t) => {
  const unknown = await bench(['--only', 'nonsense']);
  t.equal(unknown.code, 2);
  t.match(
    unknown.stdout + unknown.stderr,
    /unknown metric "nonsense" \(known: handshakes, bulk, steady, rps, reauth, revalidate, decision, rest, fleet\)/,
  );
  const rounds = await bench(['--rounds', '0']);
  t.equal(rounds.code, 2);
  const ref = await bench(['--compare', 'no-such-ref-anywhere', '--only', 'decision']);
  t.equal(ref.code, 2);
  t.match(ref.stderr, /"no-such-ref-anywhere" is not a commit/);
});
