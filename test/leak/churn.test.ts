// Leak check: 2,000 mTLS connections (handshake, one echo, close) through our server and our
// client, in concurrent batches. RSS after the run, measured after a GC, must not have grown by more
// than a generous bound beyond its level after a warm-up, and the server must forget every connection.
import t from 'tap';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { createServer, connect } from '../../dist/index.js';
import { certs } from '../helpers/certs';
import { listen, closed } from '../helpers/owned';

const TOTAL = 2000;
const WARM_UP = 300;
const BATCH = 50;
const MAX_GROWTH_MB = 40;

// tap runs test files without --expose-gc; this V8 flag set at run time exposes gc() to new
// contexts, which is enough to take a GC'd measurement.
function findGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

const gc = findGc();

async function settledRss(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().rss;
}

t.test(`${TOTAL} mTLS connections do not grow memory without bound`, async (t) => {
  const server = createServer({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true }, (socket) => {
    socket.on('error', () => {});
    socket.on('data', (data: Buffer) => socket.end(data));
  });
  const failures: Error[] = [];
  server.on('tlsClientError', (error: Error) => failures.push(error));
  const port = await listen(t, server);

  async function once(index: number): Promise<void> {
    const client = connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca, key: certs.clientKey, cert: certs.clientChain });
    const echoed = new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      client.on('data', (chunk: Buffer) => chunks.push(chunk));
      client.on('end', () => resolve(Buffer.concat(chunks).toString()));
      client.on('error', reject);
    });
    client.write(`ping ${index}`);
    const reply = await echoed;
    if (reply !== `ping ${index}`) throw new Error(`connection ${index} echoed '${reply}'`);
    client.end();
    await closed(client);
  }

  async function run(from: number, to: number): Promise<void> {
    for (let start = from; start < to; start += BATCH) {
      const batch: Promise<void>[] = [];
      for (let i = start; i < Math.min(start + BATCH, to); i++) batch.push(once(i));
      await Promise.all(batch);
    }
  }

  const started = Date.now();
  await run(0, WARM_UP);
  const baseline = await settledRss();
  await run(WARM_UP, TOTAL);
  // Let the server side see the last closes.
  for (let i = 0; i < 100 && server.connections().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  const after = await settledRss();
  const growthMb = (after - baseline) / (1024 * 1024);
  t.comment(`gc: ${gc === undefined ? 'unavailable' : 'forced'}; rss after warm-up ${(baseline / 1048576).toFixed(1)} MB, ` +
    `after ${TOTAL} connections ${(after / 1048576).toFixed(1)} MB (${growthMb >= 0 ? '+' : ''}${growthMb.toFixed(1)} MB) in ${Date.now() - started} ms`);

  t.same(failures, [], 'no handshake failed');
  t.equal(server.connections().length, 0, 'the server holds no connection');
  t.ok(growthMb < MAX_GROWTH_MB, `RSS growth ${growthMb.toFixed(1)} MB < ${MAX_GROWTH_MB} MB`);
});
