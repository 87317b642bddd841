#!/usr/bin/env node
'use strict';
// `npm run fuzz -- --seconds N [--only NAME] [--build-only] [--replay-only]`:
// builds the libFuzzer harnesses of test/fuzz/ with clang, AddressSanitizer
// and UndefinedBehaviorSanitizer into build-fuzz/ (ignored by git), replays
// every committed crash input (test/fuzz/crashes/<harness>/), then fuzzes
// each harness for N seconds from its committed seeds (test/fuzz/corpus/).
// New inputs go to build-fuzz/corpus/, never into the repository.
//
// The harnesses link the addon's Node-API-free sources (native/record_engine,
// ciphertext_bios, verified_chains, openssl_core) against the system's libssl
// with Node's own OpenSSL headers, as the addon is compiled: the node binary's
// OpenSSL cannot be linked into a standalone program.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const buildDir = path.join(root, 'build-fuzz');
const fuzzDir = path.join(root, 'test', 'fuzz');

const shared = [
  'native/ciphertext_bios.cc',
  'native/openssl_core.cc',
  'native/record_engine.cc',
  'native/verified_chains.cc',
];
const harnesses = [
  { name: 'tls_server', source: 'test/fuzz/tls_records.cc', defines: ['CTLS_FUZZ_TARGET_IS_SERVER=1'] },
  { name: 'tls_client', source: 'test/fuzz/tls_records.cc', defines: ['CTLS_FUZZ_TARGET_IS_SERVER=0'] },
  { name: 'pem_inputs', source: 'test/fuzz/pem_inputs.cc', defines: [] },
  { name: 'verify_chain', source: 'test/fuzz/verify_chain.cc', defines: [] },
];

function fail(message) {
  console.error(`fuzz: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { seconds: 10, only: null, buildOnly: false, replayOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) fail(`${arg} needs a value`);
      return next;
    };
    if (arg === '--seconds') {
      options.seconds = Number(value());
      if (!Number.isInteger(options.seconds) || options.seconds < 1) fail('--seconds must be a positive integer');
    } else if (arg === '--only') {
      options.only = value();
      if (!harnesses.some((h) => h.name === options.only)) fail(`unknown harness ${options.only}`);
    } else if (arg === '--build-only') {
      options.buildOnly = true;
    } else if (arg === '--replay-only') {
      options.replayOnly = true;
    } else {
      fail(`unknown argument ${arg} (use --seconds N, --only NAME, --build-only, --replay-only)`);
    }
  }
  return options;
}

function findCompiler() {
  for (const candidate of [process.env.CXX_FUZZ, 'clang++', 'clang++-16', 'clang++-15', 'clang++-14']) {
    if (!candidate) continue;
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0) return candidate;
  }
  return fail('clang++ not found (Debian: apt-get install clang libclang-rt-dev, or set CXX_FUZZ)');
}

function nodeIncludeDir() {
  const prefix = process.env.npm_config_nodedir || path.resolve(process.execPath, '..', '..');
  const dir = path.join(prefix, 'include', 'node');
  if (!fs.existsSync(path.join(dir, 'openssl', 'ssl.h')))
    fail(`Node's OpenSSL headers are not in ${dir}; set npm_config_nodedir`);
  return dir;
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) fail(`could not run ${command}: ${result.error.message}`);
  return result;
}

function newestHeader() {
  let newest = 0;
  for (const dir of ['native', 'test/fuzz']) {
    for (const file of fs.readdirSync(path.join(root, dir))) {
      if (file.endsWith('.h')) newest = Math.max(newest, fs.statSync(path.join(root, dir, file)).mtimeMs);
    }
  }
  return newest;
}

function build(compiler, selected) {
  fs.mkdirSync(path.join(buildDir, 'obj'), { recursive: true });
  const include = nodeIncludeDir();
  const flags = [
    '-g',
    '-O1',
    '-std=c++17',
    '-fno-omit-frame-pointer',
    '-fsanitize=address,undefined',
    '-fno-sanitize-recover=undefined',
    '-fsanitize=fuzzer-no-link',
    `-I${include}`,
    '-DOPENSSL_API_COMPAT=30000',
    '-Wall',
    '-Wno-unused-parameter',
  ];
  const headers = newestHeader();
  const compile = (source, object, extra) => {
    const out = path.join(buildDir, 'obj', object);
    const src = path.join(root, source);
    if (fs.existsSync(out)) {
      const built = fs.statSync(out).mtimeMs;
      if (built > fs.statSync(src).mtimeMs && built > headers) return out;
    }
    console.log(`fuzz: compile ${source}${extra.length ? ` (${extra.join(' ')})` : ''}`);
    const result = run(compiler, [...flags, ...extra, '-c', src, '-o', out]);
    if (result.status !== 0) fail(`compiling ${source} failed`);
    return out;
  };
  // The addon's own sources get the addon's defines (binding.gyp).
  const objects = shared.map((source) =>
    compile(source, `${path.basename(source, '.cc')}.o`, ['-DOPENSSL_NO_DEPRECATED']),
  );
  // The harness support replaces OpenSSL's random source, a deprecated API.
  objects.push(compile('test/fuzz/fuzz_common.cc', 'fuzz_common.o', []));
  for (const harness of selected) {
    const object = compile(
      harness.source,
      `${harness.name}.o`,
      harness.defines.map((d) => `-D${d}`),
    );
    const binary = path.join(buildDir, `fuzz_${harness.name}`);
    const inputs = [...objects, object];
    if (fs.existsSync(binary) && inputs.every((file) => fs.statSync(file).mtimeMs < fs.statSync(binary).mtimeMs))
      continue;
    console.log(`fuzz: link ${path.relative(root, binary)}`);
    const result = run(compiler, ['-fsanitize=address,undefined,fuzzer', ...inputs, '-lssl', '-lcrypto', '-o', binary]);
    if (result.status !== 0) fail(`linking ${harness.name} failed`);
  }
}

function filesIn(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => !f.startsWith('.') && f !== 'README.md')
    .map((f) => path.join(dir, f));
}

const sanitizerEnv = {
  ...process.env,
  ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=1:abort_on_error=0:allocator_may_return_null=1',
  UBSAN_OPTIONS: process.env.UBSAN_OPTIONS || 'print_stacktrace=1:halt_on_error=1',
};

// Every committed crash input must now run clean: each one is a regression test.
function replay(harness) {
  const crashes = filesIn(path.join(fuzzDir, 'crashes', harness.name));
  if (crashes.length === 0) return true;
  const binary = path.join(buildDir, `fuzz_${harness.name}`);
  const result = spawnSync(binary, crashes, { cwd: root, env: sanitizerEnv, encoding: 'utf8' });
  const ok = result.status === 0;
  console.log(`fuzz: ${harness.name}: ${crashes.length} regression input(s) ${ok ? 'pass' : 'FAIL'}`);
  if (!ok) process.stderr.write(result.stderr.slice(-6000));
  return ok;
}

function fuzz(harness, seconds) {
  const binary = path.join(buildDir, `fuzz_${harness.name}`);
  const corpus = path.join(buildDir, 'corpus', harness.name);
  const artifacts = path.join(buildDir, 'artifacts');
  fs.mkdirSync(corpus, { recursive: true });
  fs.mkdirSync(artifacts, { recursive: true });
  const seeds = path.join(fuzzDir, 'corpus', harness.name);
  const args = [
    `-max_total_time=${seconds}`,
    '-timeout=20',
    '-rss_limit_mb=2560',
    '-max_len=16384',
    '-print_final_stats=1',
    `-artifact_prefix=${artifacts}${path.sep}${harness.name}-`,
    corpus,
  ];
  if (fs.existsSync(seeds)) args.push(seeds);
  console.log(`fuzz: ${harness.name} for ${seconds} s`);
  const result = spawnSync(binary, args, {
    cwd: root,
    env: sanitizerEnv,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const log = result.stderr || '';
  const stat = (name) => {
    const match = log.match(new RegExp(`stat::${name}:\\s*(\\d+)`));
    return match ? Number(match[1]) : null;
  };
  const lastStatus = [...log.matchAll(/#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/g)].pop();
  const figures = {
    harness: harness.name,
    seconds,
    executions: stat('number_of_executed_units'),
    execPerSecond: stat('average_exec_per_sec'),
    coverage: lastStatus ? Number(lastStatus[2]) : null,
    features: lastStatus ? Number(lastStatus[3]) : null,
    corpus: lastStatus ? Number(lastStatus[4]) : null,
    crashed: result.status !== 0,
  };
  if (figures.crashed) {
    process.stderr.write(log.slice(-8000));
    console.log(`fuzz: ${harness.name} FAILED; the input is in ${path.relative(root, artifacts)}`);
  }
  return figures;
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const selected = harnesses.filter((h) => options.only === null || h.name === options.only);
  build(findCompiler(), selected);
  if (options.buildOnly) return;
  let ok = selected.map(replay).every(Boolean);
  if (options.replayOnly) process.exit(ok ? 0 : 1);
  const table = [];
  for (const harness of selected) {
    const figures = fuzz(harness, options.seconds);
    table.push(figures);
    if (figures.crashed) ok = false;
  }
  console.log('\nharness        seconds  executions  exec/s  coverage  features  corpus  result');
  for (const f of table) {
    console.log(
      `${f.harness.padEnd(14)} ${String(f.seconds).padStart(7)} ${String(f.executions ?? '?').padStart(11)} ` +
        `${String(f.execPerSecond ?? '?').padStart(7)} ${String(f.coverage ?? '?').padStart(9)} ` +
        `${String(f.features ?? '?').padStart(9)} ${String(f.corpus ?? '?').padStart(7)}  ` +
        (f.crashed ? 'CRASH' : 'ok'),
    );
  }
  if (process.env.FUZZ_FIGURES) fs.writeFileSync(process.env.FUZZ_FIGURES, `${JSON.stringify(table, null, 2)}\n`);
  process.exit(ok ? 0 : 1);
}

main();
