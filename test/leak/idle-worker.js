'use strict';
// Runs a server for limits-idle-handshakes.test.ts in a process of its own (with --expose-gc), so
// that its RSS measures the server and not the test's own client sockets. Protocol over IPC:
//   parent -> { certs, handshakeTimeout, maxPendingHandshakes }   child -> { port }
//   parent -> 'measure'                                           child -> { sample }
//   parent -> 'close'                                             child exits
const { readFileSync } = require('node:fs');
const { createServer } = require('../../dist/index.js');

function sample(server, codes) {
  global.gc();
  const memory = process.memoryUsage();
  return {
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    external: memory.external,
    live: server.connections().length,
    handles: process._getActiveHandles().length,
    codes,
  };
}

function mallocHeapBytes() {
  try {
    const smaps = readFileSync('/proc/self/smaps', 'utf8');
    const at = smaps.indexOf('[heap]');
    const rss = at < 0 ? null : /Rss:\s+(\d+) kB/.exec(smaps.slice(at));
    return rss ? Number(rss[1]) * 1024 : null;
  } catch {
    return null;
  }
}

process.once('message', ({ certs, handshakeTimeout, maxPendingHandshakes }) => {
  const codes = {};
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    handshakeTimeout,
    ...(maxPendingHandshakes === undefined ? {} : { maxPendingHandshakes }),
  });
  server.on('tlsClientError', (error) => {
    codes[error.code] = (codes[error.code] ?? 0) + 1;
  });
  server.listen(0, '127.0.0.1', () => {
    process.send({ port: server.address().port });
  });
  process.on('message', (message) => {
    if (message === 'measure') process.send({ sample: { ...sample(server, codes), mallocHeap: mallocHeapBytes() } });
    if (message === 'close') server.close(() => process.exit(0));
  });
});
