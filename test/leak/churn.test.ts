// Leak check: thousands of mTLS connections (handshake, one echo, close) through our server and
// our client, in concurrent batches, run in a child process with --expose-gc. After a warm-up that
// lets the allocators reach their working size, 2,000 more connections must not grow the JS heap or
// the RSS by more than generous bounds, and the server must forget every connection.
//
// Why the long warm-up: glibc's malloc keeps pages it has handed out, and its heap only reaches
// its steady size after some two thousand connections here (then it stays flat for thousands
// more). Measured from 300 connections, that one-time climb (20-60 MB) looks like a leak.
import t from 'tap';
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { certs } from '../helpers/certs';

const WARM_UP = 2000;
const MEASURED = 2000;
const BATCH = 50;
const MAX_RSS_GROWTH_MB = 40;
const MAX_HEAP_GROWTH_MB = 5;

interface Sample {
  connections: number;
  rss: number;
  heapUsed: number;
  mallocHeapMb: number | null;
  ms: number;
}

interface Outcome {
  samples: Sample[];
  failures: string[];
  live: number;
}

function churn(): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    // execArgv replaces tap's loader flags: the worker is plain JavaScript over dist/.
    const child = fork(join(__dirname, 'churn-worker.js'), [], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (message: { result?: Outcome; error?: string }) => {
      if (message.result !== undefined) resolve(message.result);
      else reject(new Error(message.error ?? 'the churn worker failed'));
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the churn worker exited with ${code}`));
    });
    child.send({
      certs: { ca: certs.ca, serverKey: certs.serverKey, serverChain: certs.serverChain, clientKey: certs.clientKey, clientChain: certs.clientChain },
      total: WARM_UP + MEASURED,
      warmUp: WARM_UP,
      every: MEASURED / 4,
      batch: BATCH,
    });
  });
}

const mb = (bytes: number): string => (bytes / 1048576).toFixed(1);

t.test(`${MEASURED} mTLS connections after a warm-up do not grow memory`, async (t) => {
  const { samples, failures, live } = await churn();
  for (const sample of samples) {
    t.comment(`${sample.connections} connections: rss ${mb(sample.rss)} MB, JS heap ${mb(sample.heapUsed)} MB, ` +
      `malloc heap ${sample.mallocHeapMb?.toFixed(1) ?? '?'} MB, ${sample.ms} ms`);
  }
  const first = samples[0]!;
  const last = samples.at(-1)!;
  t.equal(first.connections, WARM_UP);
  t.equal(last.connections, WARM_UP + MEASURED);
  t.same(failures, [], 'no handshake failed');
  t.equal(live, 0, 'the server holds no connection');
  const rssGrowth = (last.rss - first.rss) / 1048576;
  const heapGrowth = (last.heapUsed - first.heapUsed) / 1048576;
  t.ok(heapGrowth < MAX_HEAP_GROWTH_MB, `JS heap growth ${heapGrowth.toFixed(1)} MB < ${MAX_HEAP_GROWTH_MB} MB`);
  t.ok(rssGrowth < MAX_RSS_GROWTH_MB, `RSS growth ${rssGrowth.toFixed(1)} MB < ${MAX_RSS_GROWTH_MB} MB`);
});
