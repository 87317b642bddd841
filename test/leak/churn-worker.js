'use strict';
// Runs the connection churn for churn.test.ts in a process of its own, started with --expose-gc
// and without tap's TypeScript loader, so that RSS measures the library and not the test runner.
// Receives { certs, total, warmUp, every, batch } over IPC and answers with its measurements.
// Besides memory it counts, after a full GC, the TLS sockets of either side that are still reachable
// (through WeakRefs) and the process's active handles: a connection kept alive by anything, however
// small, shows up there exactly, where a few kB per connection would hide in the RSS noise.
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
  const sockets = new Set();
  const track = (socket) => sockets.add(new WeakRef(socket));
  const reachable = () => {
    let count = 0;
    for (const ref of sockets) {
      if (ref.deref() === undefined) sockets.delete(ref);
      else count++;
    }
    return count;
  };
  // Every 10th client asks for a fresh certificate exchange before the echo, and every 10th
  // presents no certificate and is refused: the re-authentication and failure paths churn too.
  let refused = 0;
  const server = createServer(
    { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true },
    (socket) => {
      track(socket);
      socket.on('error', () => {});
      socket.on('data', (data) => {
        if (!data.toString().startsWith('fresh')) socket.end(data);
        else
          socket.requestCertificate().then(
            () => socket.end(data),
            () => {},
          );
      });
    },
  );
  server.on('tlsClientError', (error, socket) => {
    track(socket);
    if (error.code === 'ERR_CTLS_CERT_VERIFY' || error.code === 'ERR_CTLS_NO_PEER_CERTIFICATE') refused++;
    else failures.push(`${error.code}: ${error.message}`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();

  async function refusedOnce() {
    const client = connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca });
    track(client);
    await new Promise((resolve) => {
      client.on('error', () => {});
      client.once('close', resolve);
    });
  }

  async function once(index) {
    if (index % 10 === 9) return refusedOnce();
    const client = connect({
      port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: certs.ca,
      key: certs.clientKey,
      cert: certs.clientChain,
    });
    track(client);
    const closed = new Promise((resolve) => client.once('close', resolve));
    const message = `${index % 10 === 4 ? 'fresh' : 'ping'} ${index}`;
    const reply = await new Promise((resolve, reject) => {
      const chunks = [];
      client.on('data', (chunk) => chunks.push(chunk));
      client.on('end', () => resolve(Buffer.concat(chunks).toString()));
      client.on('error', reject);
      client.write(message);
    });
    if (reply !== message) throw new Error(`connection ${index} echoed '${reply}'`);
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
      for (let i = 0; i < 100 && server.connections().length > 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      await settle();
      const memory = process.memoryUsage();
      samples.push({
        connections: done,
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        mallocHeapMb: mallocHeapMb(),
        ms: Date.now() - started,
        reachableSockets: reachable(),
        handles: process._getActiveHandles().length,
      });
      next = done + every;
    }
  }
  const live = server.connections().length;
  await new Promise((resolve) => server.close(resolve));
  return { samples, failures, live, refused };
}

process.once('message', (options) => {
  run(options).then(
    (result) => process.send({ result }, () => process.exit(0)),
    (error) => process.send({ error: String(error && error.stack ? error.stack : error) }, () => process.exit(1)),
  );
});
