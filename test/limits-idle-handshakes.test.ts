// Connections that never send a ClientHello are bounded in time by handshakeTimeout and, with
// maxPendingHandshakes, in number. The server runs in a child process (test/leak/idle-worker.js)
// so its memory per idle connection can be measured; CTLS_IDLE_CONNECTIONS raises the count.
import t, { type Test } from 'tap';
import * as net from 'node:net';
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const IDLE = Number(process.env.CTLS_IDLE_CONNECTIONS ?? 2000);
const KiB = 1024;

interface Sample {
  rss: number;
  heapUsed: number;
  external: number;
  mallocHeap: number | null;
  live: number;
  handles: number;
  codes: Record<string, number>;
}

interface Worker {
  port: number;
  measure(): Promise<Sample>;
  close(): void;
}

async function startWorker(
  t: Test,
  options: { handshakeTimeout: number; maxPendingHandshakes?: number },
): Promise<Worker> {
  const child: ChildProcess = fork(join(__dirname, 'leak', 'idle-worker.js'), [], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  child.send({ certs: { serverKey: certs.serverKey, serverChain: certs.serverChain }, ...options });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`the idle worker exited with ${code}`)));
  });
  return {
    port,
    measure: () =>
      new Promise<Sample>((resolve) => {
        child.once('message', (message: { sample: Sample }) => resolve(message.sample));
        child.send('measure');
      }),
    close: () => child.send('close'),
  };
}

/** Opens `count` TCP connections that send nothing; resolves once all are connected. */
async function openIdle(t: Test, port: number, count: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
  });
  const batch = 200;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(
      Array.from(
        { length: Math.min(batch, count - i) },
        () =>
          new Promise<void>((resolve, reject) => {
            const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve());
            socket.on('error', reject);
            sockets.push(socket);
          }),
      ),
    );
  }
  return sockets;
}

async function until(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting until ${what}`);
}

t.test(`${IDLE} connections that never send a ClientHello are cut by handshakeTimeout`, async (t) => {
  const handshakeTimeout = 4000;
  const worker = await startWorker(t, { handshakeTimeout });
  const before = await worker.measure();
  const sockets = await openIdle(t, worker.port, IDLE);
  await until('the server holds every connection', async () => (await worker.measure()).live === IDLE, 20_000);
  const during = await worker.measure();
  const perConnection = (during.rss - before.rss) / IDLE;
  const heapPerConnection = (during.heapUsed - before.heapUsed) / IDLE;
  const externalPerConnection = (during.external - before.external) / IDLE;
  t.comment(
    `per idle connection: RSS ${(perConnection / KiB).toFixed(1)} KiB, ` +
      `JS heap ${(heapPerConnection / KiB).toFixed(1)} KiB, ` +
      `external ${(externalPerConnection / KiB).toFixed(1)} KiB` +
      (during.mallocHeap !== null && before.mallocHeap !== null
        ? `, malloc heap ${((during.mallocHeap - before.mallocHeap) / IDLE / KiB).toFixed(1)} KiB`
        : ''),
  );
  t.ok(perConnection < 64 * KiB, `an idle connection costs ${(perConnection / KiB).toFixed(1)} KiB of RSS (< 64 KiB)`);

  const closedAll = Promise.all(
    sockets.map(
      (socket) => new Promise((resolve) => (socket.destroyed ? resolve(null) : socket.once('close', resolve))),
    ),
  );
  await until(
    'every idle connection is cut',
    async () => (await worker.measure()).live === 0,
    handshakeTimeout + 20_000,
  );
  await closedAll;
  const after = await worker.measure();
  t.equal(after.codes.ERR_CTLS_HANDSHAKE_TIMEOUT, IDLE, 'each ended with ERR_CTLS_HANDSHAKE_TIMEOUT');
  t.ok(after.handles <= before.handles + 2, `active handles back to ${after.handles} (before: ${before.handles})`);
  worker.close();
});

t.test('maxPendingHandshakes refuses connections beyond it with ERR_CTLS_HANDSHAKE_LIMIT', async (t) => {
  const limit = 50;
  const worker = await startWorker(t, { handshakeTimeout: 5000, maxPendingHandshakes: limit });
  const sockets = await openIdle(t, worker.port, limit);
  await until('the server holds the first connections', async () => (await worker.measure()).live === limit, 10_000);
  const extra = await openIdle(t, worker.port, 10);
  await until(
    'the extra connections are refused',
    async () => (await worker.measure()).codes.ERR_CTLS_HANDSHAKE_LIMIT === 10,
    10_000,
  );
  await Promise.all(
    extra.map((socket) => new Promise((resolve) => (socket.destroyed ? resolve(null) : socket.once('close', resolve)))),
  );
  t.pass('the refused connections were closed by the server');
  t.equal((await worker.measure()).live, limit, 'the pending ones still wait');
  // Once they time out there is room again.
  await until('the pending handshakes time out', async () => (await worker.measure()).live === 0, 20_000);
  const again = await openIdle(t, worker.port, 1);
  await until('a new connection is admitted', async () => (await worker.measure()).live === 1, 10_000);
  const final = await worker.measure();
  t.equal(final.codes.ERR_CTLS_HANDSHAKE_LIMIT, 10, 'no further refusal');
  t.equal(final.codes.ERR_CTLS_HANDSHAKE_TIMEOUT, limit, 'the first ones timed out');
  again[0]!.destroy();
  void sockets;
  worker.close();
});
