// Leak check: thousands of mTLS connections (handshake, one echo, close; one in ten with a fresh
// certificate exchange first, one in ten refused for lack of a certificate) through our server and
// our client, in concurrent batches, run in a child process with --expose-gc. After a warm-up that
// lets the allocators reach their working size, 2,000 more connections must not grow the JS heap or
// the RSS by more than generous bounds, and the server must forget every connection.
//
// It also counts the TLS sockets still reachable after a full GC (none may be) and the process's
// active handles (flat): those catch a connection kept alive by anything, exactly, where RSS would
// need a large leak to notice. CTLS_CHURN_CONNECTIONS sets how many connections are measured after
// the warm-up (e.g. 10000); the default keeps the run short.
//
// Why the long warm-up: glibc's malloc keeps pages it has handed out, and its heap only reaches
// its steady size after some two thousand connections here (then it stays flat for thousands
// more). Measured from 300 connections, that one-time climb (20-60 MB) looks like a leak.
import t from 'tap';
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { certs } from '../helpers/certs';

const WARM_UP = 2000;
const MEASURED = Number(process.env.CTLS_CHURN_CONNECTIONS ?? 2000);
const BATCH = 50;
const MAX_RSS_GROWTH_MB = 40;
const MAX_HEAP_GROWTH_MB = 5;

interface Sample {
  connections: number;
  rss: number;
  heapUsed: number;
  mallocHeapMb: number | null;
  ms: number;
  reachableSockets: number;
  handles: number;
}

interface Outcome {
  samples: Sample[];
  failures: string[];
  live: number;
  refused: number;
}

function churn(): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    // execArgv replaces tap's loader flags: the worker is plain JavaScript over dist/.
    const child = fork(join(__dirname, 'churn-worker.js'), [], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (message: { result?: Outcome; error?: string }) => {
      if (message.result !== undefined) resolve(message.result);
      else reject(new Error(message.error ?? 'the churn worker failed'));
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the churn worker exited with ${code}`));
    });
    child.send({
      certs: {
        ca: certs.ca,
        serverKey: certs.serverKey,
        serverChain: certs.serverChain,
        clientKey: certs.clientKey,
        clientChain: certs.clientChain,
      },
      total: WARM_UP + MEASURED,
      warmUp: WARM_UP,
      every: MEASURED / 4,
      batch: BATCH,
    });
  });
}

const mb = (bytes: number): string => (bytes / 1048576).toFixed(1);

// About 100 connections a second on a busy 2-core machine; the default fits the 120 s file timeout.
if (WARM_UP + MEASURED > 4000) t.setTimeout((WARM_UP + MEASURED) * 30 + 60_000);

t.test(`${MEASURED} mTLS connections after a warm-up do not grow memory`, async (t) => {
  const { samples, failures, live, refused } = await churn();
  for (const sample of samples) {
    t.comment(
      `${sample.connections} connections: rss ${mb(sample.rss)} MB, JS heap ${mb(sample.heapUsed)} MB, ` +
        `malloc heap ${sample.mallocHeapMb?.toFixed(1) ?? '?'} MB, ${sample.reachableSockets} sockets reachable, ` +
        `${sample.handles} handles, ${sample.ms} ms`,
    );
  }
  const first = samples[0]!;
  const last = samples.at(-1)!;
  t.equal(first.connections, WARM_UP);
  t.equal(last.connections, WARM_UP + MEASURED);
  t.same(failures, [], 'no handshake failed but the refused ones');
  t.equal(refused, (WARM_UP + MEASURED) / 10, 'every tenth client, without a certificate, was refused');
  t.equal(live, 0, 'the server holds no connection');
  const rssGrowth = (last.rss - first.rss) / 1048576;
  const heapGrowth = (last.heapUsed - first.heapUsed) / 1048576;
  t.ok(heapGrowth < MAX_HEAP_GROWTH_MB, `JS heap growth ${heapGrowth.toFixed(1)} MB < ${MAX_HEAP_GROWTH_MB} MB`);
  t.ok(rssGrowth < MAX_RSS_GROWTH_MB, `RSS growth ${rssGrowth.toFixed(1)} MB < ${MAX_RSS_GROWTH_MB} MB`);
  t.equal(last.reachableSockets, 0, 'no closed TLS socket is still reachable after GC');
  t.equal(last.handles, first.handles, 'active handles are back where they were after the warm-up');
});
