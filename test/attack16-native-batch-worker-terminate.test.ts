// Attack: a worker_thread that is terminated while a trust change's batch is out takes the whole
// process down. verifyChains (native/chain_batch.cc) queues its BatchWorkers on libuv's pool;
// worker.terminate() tears the worker's environment down, and node's Environment::CleanupHandles
// runs the loop until the pool work is done, then calls each AsyncWorker's completion with JS
// already forbidden. BatchWorker::Finish then builds the result array (VerifyOutcomeObject):
// every napi call fails, node-addon-api's error path throws into an environment that cannot take
// it, and "FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw" aborts the process (SIGABRT),
// main thread and all other workers included. A server running in a worker reaches it with any
// setCrl()/setCa() over 8 or more connections (the engine's sweep starts the batch) followed by
// terminate(), which is how worker pools recycle workers.
//
// The fix: in Finish (and KeepClean), do nothing when the environment is going away: e.g. check
// the napi status of the completion (skip when JS cannot run), register an env cleanup hook that
// marks the batch abandoned, or use napi_async_work's own status and never touch JS then.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

/** The worker: starts a batch of 3,000 chains on three pool threads and says so. */
const workerScript = `
const { parentPort } = require('node:worker_threads');
const { X509Certificate } = require('node:crypto');
const { contextHandle, createSecureContext } = require(${JSON.stringify(join(dist, 'tls', 'context.js'))});
const certs = JSON.parse(process.env.CERTS);
const context = createSecureContext({ ca: certs.ca, crl: certs.crl }, true);
const der = certs.clientChain
  .match(/-----BEGIN CERTIFICATE-----[\\s\\S]*?-----END CERTIFICATE-----/g)
  .map((pem) => new X509Certificate(pem).raw);
const items = Array.from({ length: 3000 }, () => [der.map((b) => Buffer.from(b)), 'sslclient']);
contextHandle(context).verifyChains(items, 3).then(() => parentPort.postMessage('done'));
parentPort.postMessage('started');
`;

/** Runs in a child: an abort there must fail this test, not end the runner. */
const script = `
const { Worker } = require('node:worker_threads');
(async () => {
  for (let round = 0; round < 3; round++) {
    const worker = new Worker(process.env.WORKER, { eval: true, env: process.env });
    await new Promise((resolve) => worker.on('message', (m) => m === 'started' && resolve()));
    await worker.terminate();
  }
  console.log('alive');
})();
`;

t.test('terminating a worker while its verifyChains batch is out leaves the process alive', async (t) => {
  const child = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, CERTS: JSON.stringify(certs), WORKER: workerScript },
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.equal(child.signal, null, `the process survives (signal ${child.signal ?? 'none'})`);
  t.equal(child.status, 0, 'and exits normally');
  t.match(child.stdout, /^alive$/m, 'the main thread goes on after the terminations');
  t.notMatch(child.stderr, /FATAL ERROR/, 'no fatal error from node-addon-api');
});
