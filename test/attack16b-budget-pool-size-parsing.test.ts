// Attack (class 13, shared services; "the pool is taken"): the batches' thread budget is computed
// in JavaScript from process.env.UV_THREADPOOL_SIZE (lib/authz/verify-cache.ts batchThreads():
// `Number(value) || 4`, less one, at most one per core), but libuv sizes its pool from the same
// variable with atoi(), turns 0 into 1, and never looks at it again. The two readings disagree:
//   UV_THREADPOOL_SIZE=0    libuv: 1 thread  -- JS: 0 is falsy, so "4", budget min(cores, 3)
//   UV_THREADPOOL_SIZE=1.5  libuv: 1 thread  -- JS: budget 0.5, which is not 0, so a batch is
//                                               asked for; the addon clamps 0.5 up to 1 thread
//   UV_THREADPOOL_SIZE=2x   libuv: 2 threads -- JS: NaN, so "4", budget min(cores, 3)
// In each case a trust-change batch is started on a pool that has no thread to spare, and takes
// every thread there is: the app's file system, DNS and crypto calls wait behind the chains. docs/api.md
// promises "never more than the pool's size (UV_THREADPOOL_SIZE, 4 by default) less one, so the
// app's file system, DNS and crypto calls always find a thread", and verify-cache.ts "0 with a pool
// of one thread: no batch then". (The same drift follows any process.env change after the pool
// started, which libuv never sees.)
//
// The test runs VerifyCache#prefetch with ten distinct chains in a child whose pool libuv sized
// from each of these values, and records whether a batch was started and with how many threads.
//
// The fix: parse the variable as libuv does (atoi semantics, 0 -> 1, capped at 1024), read it once
// at load (as libuv does at pool start), and never ask the addon for a batch when the budget is
// below one whole thread (the addon should refuse a limit below 1, not clamp it up).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

const script = `
const { X509Certificate } = require('node:crypto');
const { contextHandle, createSecureContext } = require(${JSON.stringify(join(dist, 'tls', 'context.js'))});
const { VerifyCache } = require(${JSON.stringify(join(dist, 'authz', 'verify-cache.js'))});
const certs = JSON.parse(process.env.CERTS);
const context = createSecureContext({ ca: certs.ca }, true);
const handle = contextHandle(context);
const presented = certs.clientChain
  .match(/-----BEGIN CERTIFICATE-----[\\s\\S]*?-----END CERTIFICATE-----/g)
  .map((pem) => new X509Certificate(pem));
// Ten distinct questions: the leaf followed by 0..9 more copies of the presented certificates.
const questions = Array.from({ length: 10 }, (_, i) => ({
  chain: [presented[0], ...Array.from({ length: i }, (_, j) => presented[j % presented.length])],
  purpose: 'sslclient',
}));
const batches = [];
const batch = handle.verifyChains.bind(handle);
Object.defineProperty(handle, 'verifyChains', {
  configurable: true,
  value: (items, threads) => {
    const answer = batch(items, threads);
    batches.push({ threads, started: answer !== undefined });
    return answer;
  },
});
new VerifyCache().prefetch(context, questions, () => Date.now()).then(() => {
  console.log(JSON.stringify(batches));
});
`;

for (const value of ['0', '1.5', '2x']) {
  const pool = value === '2x' ? 2 : 1;
  t.test(`UV_THREADPOOL_SIZE=${value} (libuv: ${pool} threads): no batch takes the pool`, async (t) => {
    const child = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, CERTS: JSON.stringify(certs), UV_THREADPOOL_SIZE: value },
      encoding: 'utf8',
      timeout: 30_000,
    });
    t.equal(child.status, 0, `the child ran (${child.stderr.trim().split('\n').slice(-1)[0] ?? ''})`);
    const batches = JSON.parse(child.stdout.trim() || '[]') as Array<{ threads: number; started: boolean }>;
    const started = batches.filter((b) => b.started);
    // Whatever the machine's cores, a pool of `pool` threads leaves `pool - 1` to batches.
    t.ok(
      started.every((b) => Math.max(1, Math.floor(b.threads)) <= pool - 1),
      `batches started on a ${pool}-thread pool, and the threads they were allowed: ${JSON.stringify(batches)}`,
    );
  });
}
