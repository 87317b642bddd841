// Attack (third outside review): the native I/O path's read buffer is one static array for the
// whole process (native/uv_transport.cc, `char read_buffer[kReadBufferSize]`, handed out by
// UvTransport::OnAlloc). Its comment reasons that "record processing runs on the loop's thread
// only", but every worker thread has a loop of its own on a thread of its own: the main thread
// and a worker read their sockets into the same 64 KiB at the same time. One thread's read(2)
// then overwrites the ciphertext the other is copying out (TlsConnection::OnTransportRead,
// source_.Append), so a connection on one thread receives bytes from a connection on another:
// a data race across threads (undefined behaviour) that shows as bad_record_mac failures or, at
// worst, a record stream spliced from two connections. A peer of one worker's server can break
// connections served by another thread just by sending bulk.
//
// Shown: the main thread and one worker each push bulk data over a native-path pair at the same
// time and check the bytes (SHA-256). Any TLS failure or wrong digest is the race.
//
// Suggested fix: a read buffer per loop (per napi_env instance data, or thread_local), or per
// connection while it reads; keep the "one buffer serves many connections" saving per thread.
import t from 'tap';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createServer, connect } from '../dist/index.js';
import { certs } from './helpers/certs';

const posix = process.platform !== 'win32';
const MB = 1024 * 1024;
const ROUND = 24 * MB;
const BUDGET_MS = 15_000;

/** Body shared by the main thread and the worker: one bulk round trip server -> client, verified. */
const roundSource = `
  const { createHash, randomBytes } = require('node:crypto');
  async function bulkRound(lib, pem, size) {
    const payload = randomBytes(size);
    const expected = createHash('sha256').update(payload).digest('hex');
    const server = lib.createServer({ key: pem.key, cert: pem.cert }, (socket) => {
      socket.on('error', () => {});
      socket.end(payload);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      return await new Promise((resolve) => {
        const client = lib.connect({
          host: '127.0.0.1',
          port: server.address().port,
          ca: pem.ca,
          servername: 'localhost',
        });
        const hash = createHash('sha256');
        let bytes = 0;
        client.on('data', (chunk) => {
          bytes += chunk.length;
          hash.update(chunk);
        });
        client.on('end', () => {
          const ok = bytes === size && hash.digest('hex') === expected;
          resolve({ native: client.nativeTransport, ok, error: null });
        });
        client.on('error', (error) => {
          client.destroy();
          resolve({ native: client.nativeTransport, ok: false, error: String(error.code || error.message) });
        });
      });
    } finally {
      for (const socket of server.connections()) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  }
`;

const workerSource = `
  ${roundSource}
  const { workerData, parentPort } = require('node:worker_threads');
  const lib = require(${JSON.stringify(join(__dirname, '..', 'dist', 'index.js'))});
  (async () => {
    const until = Date.now() + workerData.budget;
    let rounds = 0;
    while (Date.now() < until && Atomics.load(workerData.stop, 0) === 0) {
      const result = await bulkRound(lib, workerData.pem, workerData.size);
      rounds++;
      if (!result.ok || !result.native) {
        parentPort.postMessage({ done: true, rounds, result });
        return;
      }
    }
    parentPort.postMessage({ done: true, rounds, result: { native: true, ok: true, error: null } });
  })();
`;

const bulkRound = new Function('require', `${roundSource}; return bulkRound;`)(require) as (
  lib: { createServer: typeof createServer; connect: typeof connect },
  pem: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer },
  size: number,
) => Promise<{ native: boolean; ok: boolean; error: string | null }>;

t.test('two threads reading native sockets at once keep each connection its own bytes', { skip: !posix }, async (t) => {
  const pem = { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca };
  // Set when the main thread saw a failure: the worker stops at its next round.
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(workerSource, {
    eval: true,
    workerData: { pem, size: ROUND, budget: BUDGET_MS, stop },
  });
  t.teardown(() => worker.terminate());
  const workerDone = new Promise<{ rounds: number; result: { native: boolean; ok: boolean; error: string | null } }>(
    (resolve) => worker.on('message', resolve),
  );
  let workerFinished = false;
  void workerDone.then(() => (workerFinished = true));
  const until = Date.now() + BUDGET_MS;
  let rounds = 0;
  let failure: { native: boolean; ok: boolean; error: string | null } | null = null;
  while (Date.now() < until && !workerFinished) {
    const result = await bulkRound({ createServer, connect }, pem, ROUND);
    rounds++;
    t.equal(result.native, true, 'the main thread is on the native path');
    if (!result.ok) {
      failure = result;
      Atomics.store(stop, 0, 1);
      break;
    }
  }
  const fromWorker = await workerDone;
  t.equal(fromWorker.result.native, true, 'the worker is on the native path');
  t.same(failure, null, `main thread: ${rounds} rounds of ${ROUND / MB} MB arrive intact`);
  t.same(
    fromWorker.result,
    { native: true, ok: true, error: null },
    `worker: ${fromWorker.rounds} rounds of ${ROUND / MB} MB arrive intact`,
  );
});
