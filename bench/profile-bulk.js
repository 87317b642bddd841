'use strict';
// One server->client bulk transfer over loopback with one stack, split into
// two processes so a profiler can wrap either end. Not part of `npm run bench`:
// it is the harness for looking at where a stack spends its CPU per MB.
//
//   node bench/profile-bulk.js pki <file>                      write a bench PKI
//   node bench/profile-bulk.js server <owned|node> <file> <bytes>
//        prints its port, sends <bytes> to the first client, ends, exits
//   node bench/profile-bulk.js client <owned|node> <file> <port> <bytes>
//
// Each end reports its CPU (user, system) over the transfer on stderr. Wrap an
// end in `valgrind --tool=callgrind --smc-check=all-non-file` (instructions;
// the JIT needs the smc check), `perf stat -e task-clock,page-faults` or
// `node --cpu-prof`; run two sizes and take the difference to drop start-up.
const fs = require('node:fs');
const { makePki } = require('./lib/pki.js');
const { createTierServer, clientConnector } = require('./lib/tiers.js');

function cpuSince(start) {
  const used = process.cpuUsage(start);
  return `user ${(used.user / 1000).toFixed(1)} ms, system ${(used.system / 1000).toFixed(1)} ms`;
}

function serve(tier, pki, bytes) {
  let remaining = bytes;
  const { server } = createTierServer(tier, pki, (socket) => {
    const block = Buffer.alloc(64 * 1024, 0x61);
    const cpu0 = process.cpuUsage();
    socket.on('error', () => {});
    socket.on('close', () => {
      console.error(`server ${tier}: ${cpuSince(cpu0)}`);
      server.close();
    });
    const source = () => {
      while (remaining > 0) {
        const piece = remaining >= block.length ? block : block.subarray(0, remaining);
        remaining -= piece.length;
        if (!socket.write(piece)) {
          socket.once('drain', source);
          return;
        }
      }
      socket.end();
    };
    source();
    socket.resume();
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
}

function receive(tier, pki, port, bytes) {
  const socket = clientConnector(tier, pki)(port, 0);
  let got = 0;
  let cpu0;
  socket.once('secureConnect', () => (cpu0 = process.cpuUsage()));
  socket.on('data', (chunk) => {
    got += chunk.length;
    if (got >= bytes) socket.destroy();
  });
  socket.on('error', (error) => console.error(error));
  socket.on('close', () => console.error(`client ${tier}: ${cpuSince(cpu0)}, ${got} bytes`));
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'pki') {
  makePki({ clients: 1 }).then((pki) => fs.writeFileSync(args[0], JSON.stringify(pki)));
} else if (mode === 'server') {
  serve(args[0], JSON.parse(fs.readFileSync(args[1], 'utf8')), Number(args[2]));
} else if (mode === 'client') {
  receive(args[0], JSON.parse(fs.readFileSync(args[1], 'utf8')), Number(args[2]), Number(args[3]));
} else {
  console.error(
    'usage: profile-bulk.js pki <file> | server <tier> <file> <bytes> | client <tier> <file> <port> <bytes>',
  );
  process.exitCode = 2;
}
