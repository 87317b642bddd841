'use strict';
// The server of idle-memory.test.ts, in a process of its own (with --expose-gc) so that its RSS is
// the server's alone. argv[2] is the stack: 'owned' (continuous-tls) or 'node' (node:tls).
// Protocol over IPC:
//   parent -> { certs }    child -> { port }
//   parent -> 'measure'    child -> { rss, live }   (after a full GC)
//   parent -> 'close'      child exits
const tls = require('node:tls');
const { createServer } = require('../../dist/index.js');

const stack = process.argv[2];
let live = 0;

process.once('message', ({ certs }) => {
  const options = {
    key: certs.serverKey,
    cert: certs.serverChain,
    ca: certs.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  };
  const onSecure = (socket) => {
    live += 1;
    socket.on('error', () => {});
    socket.on('close', () => (live -= 1));
    // One round trip, so that each connection has carried data both ways before it idles.
    socket.once('data', (chunk) => socket.write(chunk));
  };
  const server = stack === 'owned' ? createServer(options, onSecure) : tls.createServer(options, onSecure);
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', (message) => {
    if (message === 'measure') {
      global.gc();
      process.send({ rss: process.memoryUsage().rss, live });
    }
    if (message === 'close') process.exit(0);
  });
});
