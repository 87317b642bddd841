#!/usr/bin/env node
'use strict';
// npm run bench: continuous-tls beside node:tls, in one run on one machine.
//
// This file parses the arguments, runs the selected metrics (bench/metrics/,
// one file each, its header says what it measures and how) and writes the
// report. Every measurement runs in fresh worker processes (bench/server.js,
// bench/client.js, bench/micro.js) pinned to separate cores where possible;
// rounds interleave the arms and each comparison carries an A/A control, so a
// ratio comes with the interval it is known to (bench/README.md, "Method").
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { makePki } = require('./lib/pki.js');
const { table, svg, jsonRows } = require('./lib/report.js');
const { pinPlan } = require('./lib/pin.js');
const { comparisons } = require('./lib/harness.js');
const { prepareCompare } = require('./lib/compare.js');
const { progress, progressDone, elapsedS } = require('./lib/progress.js');

const ROOT = path.join(__dirname, '..');

// Order of execution: decision first, it also yields the chain verification
// cost that the re-authentication budget and the revalidation extrapolation use.
const ORDER = ['decision', 'handshakes', 'bulk', 'steady', 'rps', 'reauth', 'revalidate', 'rest', 'fleet'];
const METRICS = Object.fromEntries(ORDER.map((name) => [name, require(`./metrics/${name}.js`)]));
// The names as --only lists them (and as the usage and error text show them).
const NAMES = ['handshakes', 'bulk', 'steady', 'rps', 'reauth', 'revalidate', 'decision', 'rest', 'fleet'];

const SIZES = {
  full: {
    rounds: 8,
    warmup: 1,
    clients: 100,
    handshakes: { concurrency: 16, warmupMs: 1000, durationMs: 3000 },
    bulk: { bytes: 512e6, warmupBytes: 128e6 },
    steady: { runs: 10, bytes: 256e6, warmupBytes: 64e6 },
    rps: { connections: 8, size: 1024, warmupMs: 500, durationMs: 2500 },
    reauth: { rounds: 500, warmup: 500, size: 1024, block: 100 },
    revalidate: { connections: 10_000, distinct: 100, concurrency: 64 },
    engine: { connections: 10_000, distinct: 100 },
    rest: { connections: 16, durationS: 3 },
    fleet: {
      latency: { processes: [1, 4, 8], samples: 10 },
      burst: { processes: 4, connections: 10_000, distinct: 100 },
      judge: { small: 10, large: 100_000, perBatch: 20_000, batches: 15 },
    },
  },
  quick: {
    rounds: 3,
    warmup: 1,
    clients: 100,
    handshakes: { concurrency: 8, warmupMs: 250, durationMs: 800 },
    bulk: { bytes: 96e6, warmupBytes: 24e6 },
    steady: { runs: 4, bytes: 48e6, warmupBytes: 12e6 },
    rps: { connections: 4, size: 1024, warmupMs: 200, durationMs: 700 },
    reauth: { rounds: 100, warmup: 100, size: 1024, block: 50 },
    revalidate: { connections: 300, distinct: 20, concurrency: 32 },
    engine: { connections: 10_000, distinct: 100 },
    rest: { connections: 8, durationS: 1 },
    fleet: {
      latency: { processes: [1, 4, 8], samples: 5 },
      // Owned-tier mTLS connections are costly to open on a small machine: a few hundred, 100 of them cut.
      burst: { processes: 4, connections: 600, distinct: 6 },
      judge: { small: 10, large: 100_000, perBatch: 5_000, batches: 9 },
    },
  },
};

// ---- command line --------------------------------------------------------------

function usage() {
  const names = NAMES.map((name) => `                 ${name.padEnd(11)} ${METRICS[name].describe}`).join('\n');
  return `Usage: npm run bench -- [--quick] [--only <metric>[,<metric>…]] [--rounds <n>] [--warmup <n>]
                        [--compare <git-ref>] [--no-pin] [--json <file>] [--cpu-prof] [--out <dir>]

  --quick      every metric at a small size, 3 rounds (a few minutes on two cores)
  --only       run only the named metrics:
${names}
  --rounds     kept rounds per measurement (default 8, --quick 3); from 6 up the interval
               is a bootstrap 95% interval of the median, below that min–max
  --warmup     discarded rounds before them (default 1)
  --compare    also build <git-ref> in a temporary git worktree and measure both builds,
               interleaved, reporting new/old ratios (the worktree is removed afterwards)
  --no-pin     do not pin server and client to separate cores with taskset
  --json       also write the JSON report to <file>
  --cpu-prof   write V8 CPU profiles of every server worker (and of each CRL swap alone)
               to <out>/profiles/
  --out        where latest.json and latest.svg go (compare.json and compare.svg under
               --compare; default bench/results)

Exit status: 0 when every benchmark ran (whatever the figures), 1 when one crashed, 2 for bad arguments.`;
}

function parseArgs(argv) {
  const args = {
    quick: false,
    only: null,
    rounds: null,
    warmup: null,
    compare: null,
    pin: true,
    json: null,
    cpuProf: false,
    out: path.join(__dirname, 'results'),
  };
  const list = (text) =>
    text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const count = (name, text, min) => {
    const n = Number(text);
    if (!(Number.isInteger(n) && n >= min)) throw new Error(`${name} needs an integer >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline;
    if (arg.startsWith('--') && arg.includes('='))
      [arg, inline] = [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)];
    const value = () => {
      const next = inline ?? argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--help' || arg === '-h') args.help = true;
    else if (arg === '--quick') args.quick = true;
    else if (arg === '--only') args.only = list(value());
    else if (arg === '--rounds') args.rounds = count('--rounds', value(), 1);
    else if (arg === '--warmup') args.warmup = count('--warmup', value(), 0);
    else if (arg === '--compare') args.compare = value();
    else if (arg === '--no-pin') args.pin = false;
    else if (arg === '--json') args.json = path.resolve(value());
    else if (arg === '--cpu-prof') args.cpuProf = true;
    else if (arg === '--out') args.out = path.resolve(value());
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  for (const name of args.only ?? []) {
    if (!(name in METRICS)) throw new Error(`unknown metric "${name}" (known: ${NAMES.join(', ')})`);
  }
  return args;
}

// ---- helpers ---------------------------------------------------------------------------

/** Strips this checkout's location from text that ends up in committed results. */
function scrub(text) {
  return String(text).split(ROOT).join('.').split(os.tmpdir()).join('$TMPDIR').split(os.homedir()).join('~');
}

/** The command as a reader would retype it; --out and --json only say where files went, so they are left out. */
function commandLine(argv) {
  const kept = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' || argv[i] === '--json') i++;
    else if (!/^--(out|json)=/.test(argv[i])) kept.push(argv[i]);
  }
  return `npm run bench${kept.length > 0 ? ` -- ${kept.join(' ')}` : ''}`;
}

/** The checkout's commit, marked when the working tree differs from it: results name what they measured. */
function commitOf() {
  try {
    const git = (args) =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git(['status', '--porcelain', '--untracked-files=no', '--', 'lib', 'native', 'binding.gyp']) !== '';
    return `${git(['rev-parse', '--short=10', 'HEAD'])}${dirty ? ' (lib/ or native/ modified)' : ''}`;
  } catch {
    return 'unknown';
  }
}

function makeContext(args, size, pin, compare) {
  let profileDir = null;
  if (args.cpuProf) {
    profileDir = path.join(args.out, 'profiles');
    fs.mkdirSync(profileDir, { recursive: true });
  }
  return {
    quick: args.quick,
    size,
    rounds: args.rounds ?? size.rounds,
    warmup: args.warmup ?? size.warmup,
    pin,
    compare,
    comparisons: comparisons(compare),
    serverExecArgv: profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    profileDir,
    pki: null,
    // What one metric measures for another (the chain verification cost).
    shared: {},
    targets: [],
    /** A target line for the summary; `judged` is a row's target ({ verdict, interval, bar }). */
    target(id, name, judged, detail) {
      this.targets.push({
        id,
        name,
        verdict: judged?.verdict ?? null,
        interval: judged?.interval ?? null,
        bar: judged?.bar ?? 1,
        detail,
      });
    },
  };
}

// ---- main ------------------------------------------------------------------------------------

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${error.message}\n\n${usage()}`);
    process.exit(2);
  }
  if (args.help) {
    console.log(usage());
    return;
  }
  const size = SIZES[args.quick ? 'quick' : 'full'];
  const selected = ORDER.filter((name) => args.only === null || args.only.includes(name));
  const pin = pinPlan(args.pin);
  let compare = null;
  if (args.compare !== null) {
    try {
      compare = prepareCompare(args.compare);
    } catch (error) {
      console.error(scrub(error.message));
      process.exit(error.badArgument ? 2 : 1);
    }
    // The worktree goes whatever happens: a normal end, a crash or Ctrl-C.
    process.once('exit', () => compare.remove());
    for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));
  }
  const loadStart = os.loadavg();
  const ctx = makeContext(args, size, pin, compare);
  progress(`making certificates (${size.clients} client identities, ECDSA P-256)`);
  ctx.pki = await makePki({ clients: size.clients });

  const rows = [];
  const failures = [];
  for (const name of selected) {
    try {
      rows.push(...(await METRICS[name].run(ctx)));
    } catch (error) {
      failures.push({ metric: name, error: scrub(error.message) });
      progressDone();
      console.error(`benchmark "${name}" crashed: ${scrub(error.stack ?? error.message)}`);
    }
  }
  progressDone();

  const { opensslVersion } = require('./lib/load.js').load();
  const meta = {
    date: new Date().toISOString(),
    mode: args.quick ? 'quick' : 'full',
    rounds: ctx.rounds,
    warmup: ctx.warmup,
    interval:
      ctx.rounds >= require('./lib/stats.js').BOOTSTRAP_MIN_ROUNDS
        ? 'bootstrap 95% of the median over rounds'
        : 'min–max over rounds',
    pinning: pin.note,
    command: commandLine(process.argv.slice(2)),
    commit: commitOf(),
    machine: [
      `${os.cpus()[0]?.model.trim() ?? 'unknown CPU'} × ${os.cpus().length}`,
      `${os.platform()} ${os.release()}`,
      `Node ${process.version}`,
      opensslVersion,
    ].join(', '),
    compare:
      compare === null
        ? undefined
        : { ref: compare.ref, commit: compare.sha, subject: compare.subject, addon: compare.addon },
    loadavg: { start: loadStart.map((x) => +x.toFixed(2)), end: os.loadavg().map((x) => +x.toFixed(2)) },
    durationS: +elapsedS().toFixed(1),
  };
  console.log(`continuous-tls bench · ${meta.mode} · ${meta.commit} · ${meta.machine}`);
  if (compare !== null)
    console.log(
      `new: this checkout · old: ${compare.ref} = ${compare.sha.slice(0, 10)} "${compare.subject}" (${compare.addon})`,
    );
  console.log(
    `${ctx.rounds} rounds after ${ctx.warmup} warm-up, arms interleaved · interval: ${meta.interval} · ${pin.note}`,
  );
  console.log(
    `load average at start ${meta.loadavg.start.join(' ')}, ` +
      `at end ${meta.loadavg.end.join(' ')} · ${meta.durationS} s\n`,
  );
  console.log(table(rows, ctx.targets, { compare: compare !== null, comparisons: ctx.comparisons }));

  const json = scrub(JSON.stringify({ meta, metrics: jsonRows(rows), targets: ctx.targets, failures }, null, 2)) + '\n';
  const base = compare === null ? 'latest' : 'compare';
  fs.mkdirSync(args.out, { recursive: true });
  fs.writeFileSync(path.join(args.out, `${base}.json`), json);
  fs.writeFileSync(
    path.join(args.out, `${base}.svg`),
    scrub(svg(rows, compare === null ? ctx.targets : [], meta, ctx.comparisons)),
  );
  const written = [`${base}.json`, `${base}.svg`].map((f) => scrub(path.join(args.out, f)));
  if (args.json !== null) {
    fs.mkdirSync(path.dirname(args.json), { recursive: true });
    fs.writeFileSync(args.json, json);
    written.push(scrub(args.json));
  }
  console.log(`\nwrote ${written.join(', ')}`);
  if (failures.length > 0) {
    console.error(`${failures.length} benchmark(s) crashed: ${failures.map((f) => f.metric).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  progressDone();
  console.error(scrub(error.stack ?? error.message));
  process.exit(1);
});
