'use strict';
// Runs the connection churn for churn.test.ts in a process of its own, started with --expose-gc
// and without tap's TypeScript loader, so that RSS measures the library and not the test runner.
// Receives { certs, total, warmUp, every, batch } over IPC and answers with its measurements.
const { readFileSync } = require('node:fs');
const { createServer, connect } = require('../../dist/index.js');

function mallocHeapMb() {
  // The [heap] mapping is glibc's main malloc arena, where OpenSSL's allocations live.
  try {
    const smaps = readFileSync('/proc/self/smaps', 'utf8');
    const at = smaps.indexOf('[heap]');
    if (at < 0) return null;
    const rss = /Rss:\s+(\d+) kB/.exec(smaps.slice(at));
    return rss ? Number(rss[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function settle() {
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function run({ certs, total, warmUp, every, batch }) {
  const failures = [];
  const server = createServer({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true }, (socket) => {
    socket.on('error', () => {});
    socket.on('data', (data) => socket.end(data));
  });
  server.on('tlsClientError', (error) => failures.push(`${error.code}: ${error.message}`));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();

  async function once(index) {
    const client = connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca, key: certs.clientKey, cert: certs.clientChain });
    const closed = new Promise((resolve) => client.once('close', resolve));
    const reply = await new Promise((resolve, reject) => {
      const chunks = [];
      client.on('data', (chunk) => chunks.push(chunk));
      client.on('end', () => resolve(Buffer.concat(chunks).toString()));
      client.on('error', reject);
      client.write(`ping ${index}`);
    });
    if (reply !== `ping ${index}`) throw new Error(`connection ${index} echoed '${reply}'`);
    client.end();
    await closed;
  }

  const samples = [];
  const started = Date.now();
  let done = 0;
  let next = warmUp;
  while (done < total) {
    const size = Math.min(batch, total - done);
    await Promise.all(Array.from({ length: size }, (_, i) => once(done + i)));
    done += size;
    if (done >= next || done === total) {
      for (let i = 0; i < 100 && server.connections().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      await settle();
      const memory = process.memoryUsage();
      samples.push({ connections: done, rss: memory.rss, heapUsed: memory.heapUsed, mallocHeapMb: mallocHeapMb(), ms: Date.now() - started });
      next = done + every;
    }
  }
  const live = server.connections().length;
  await new Promise((resolve) => server.close(resolve));
  return { samples, failures, live };
}

process.once('message', (options) => {
  run(options).then(
    (result) => process.send({ result }, () => process.exit(0)),
    (error) => process.send({ error: String(error && error.stack ? error.stack : error) }, () => process.exit(1)),
  );
});
