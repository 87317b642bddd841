'use strict';
// What the attached tier adds to a node:tls server's mTLS handshakes: the same
// node:tls server with and without attach(), in interleaved rounds, CPU per
// handshake at both ends. Not part of `npm run bench`: it is the harness for
// looking at where attach() spends its CPU per connection.
//
//   node bench/profile-attached.js [--rounds 5] [--handshakes 2000]
//        [--concurrency 8] [--cpu-prof <dir>] [--compare <dist>]
//
// Each round forks one server process per tier (order alternating), runs a
// warm-up, then <handshakes> full TLS 1.3 mTLS handshakes from this process,
// each counted when the server's first byte arrives (the attached server sends
// it only once the engine has allowed the connection). With --cpu-prof the
// servers write V8 CPU profiles to <dir>; the client side is the same node:tls
// client for both tiers. --compare adds a third server, attached with another
// build's compiled dist/ (e.g. the previous commit's, built in a worktree).
const { fork } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { parseArgs } = require('node:util');
const { makePki } = require('./lib/pki.js');
const { createTierServer, clientConnector } = require('./lib/tiers.js');

const BASE_TIERS = ['node', 'attached'];
const WARMUP = 300;

function cpuMsSince(start) {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** The server process: one tier, a byte to each authorized connection, CPU since `mark`. */
function serve() {
  let mark = process.cpuUsage();
  let secure = 0;
  process.on('message', (message) => {
    if (message.op === 'start') {
      const { server } = createTierServer(message.tier, message.pki, (socket) => {
        secure++;
        socket.on('error', () => {});
        socket.end('k');
      });
      server.on('tlsClientError', () => {});
      server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
    } else if (message.op === 'mark') {
      mark = process.cpuUsage();
      secure = 0;
      process.send({});
    } else if (message.op === 'stats') {
      process.send({ cpuMs: cpuMsSince(mark), secure });
    } else if (message.op === 'exit') {
      process.disconnect();
      process.exit(0);
    }
  });
}

function ask(child, message) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send(message);
  });
}

/** `count` handshakes, `concurrency` in flight; resolves with the errors seen. */
function handshakes(connect, port, count, concurrency) {
  return new Promise((resolve) => {
    let started = 0;
    let finished = 0;
    let errors = 0;
    const one = () => {
      if (started >= count) return;
      const socket = connect(port, started++);
      let done = false;
      const finish = (failed) => {
        if (done) return;
        done = true;
        if (failed) errors++;
        socket.destroy();
        if (++finished === count) resolve(errors);
        else one();
      };
      socket.once('data', () => finish(false));
      socket.on('error', () => finish(true));
      socket.once('close', () => finish(true));
    };
    for (let i = 0; i < concurrency; i++) one();
  });
}

async function measure(arm, pki, options) {
  const execArgv = options['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', options['cpu-prof']] : [];
  const old = arm === 'attached@old';
  const env = old ? { ...process.env, CTLS_BENCH_DIST: options.compare } : process.env;
  const child = fork(__filename, ['serve'], { execArgv, env });
  const { port } = await ask(child, { op: 'start', tier: old ? 'attached' : arm, pki });
  const connect = clientConnector('node', pki);
  const concurrency = Number(options.concurrency);
  const count = Number(options.handshakes);
  await handshakes(connect, port, WARMUP, concurrency);
  await ask(child, { op: 'mark' });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const errors = await handshakes(connect, port, count, concurrency);
  const wallMs = performance.now() - t0;
  const clientMs = cpuMsSince(cpu0);
  const stats = await ask(child, { op: 'stats' });
  child.send({ op: 'exit' });
  await new Promise((resolve) => child.once('exit', resolve));
  const done = count - errors;
  return {
    perHandshake: (clientMs + stats.cpuMs) / done,
    server: stats.cpuMs / done,
    client: clientMs / done,
    perSec: (done * 1000) / wallMs,
    errors,
  };
}

async function main() {
  const { values: options } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      handshakes: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '8' },
      'cpu-prof': { type: 'string' },
      compare: { type: 'string' },
    },
  });
  const pki = await makePki({ clients: 8 });
  const tiers = options.compare ? [...BASE_TIERS, 'attached@old'] : BASE_TIERS;
  const ratios = { attached: [], 'attached@old': [] };
  for (let round = 0; round < Number(options.rounds); round++) {
    const order = round % 2 === 0 ? tiers : [...tiers].reverse();
    const results = {};
    for (const tier of order) results[tier] = await measure(tier, pki, options);
    const shown = [];
    for (const arm of tiers.slice(1)) {
      const ratio = results[arm].perHandshake / results.node.perHandshake;
      ratios[arm].push(ratio);
      shown.push(`${arm}/node ${ratio.toFixed(3)}`);
    }
    const line = tiers.map((tier) => {
      const r = results[tier];
      return (
        `${tier} ${r.perHandshake.toFixed(3)} ms (server ${r.server.toFixed(3)}, client ${r.client.toFixed(3)}, ` +
        `${r.perSec.toFixed(0)}/s${r.errors ? `, ${r.errors} errors` : ''})`
      );
    });
    console.log(`round ${round + 1}: ${line.join('; ')}; ${shown.join('; ')}`);
  }
  for (const arm of tiers.slice(1)) {
    const sorted = [...ratios[arm]].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    console.log(
      `${arm}/node CPU per handshake: median ${median.toFixed(3)}, ` +
        `min ${sorted[0].toFixed(3)}, max ${sorted[sorted.length - 1].toFixed(3)}`,
    );
  }
}

if (process.argv[2] === 'serve') serve();
else
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
