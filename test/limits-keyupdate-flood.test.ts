// Ciphertext the library produces on its own while reading (here: the KeyUpdate a TLS 1.3 peer
// requests with update_requested, RFC 8446 section 4.6.3) must respect the transport's backpressure.
// A peer that floods KeyUpdate requests and never reads would otherwise grow the server's write queue
// without end: the server stops reading once that queue passes its highWaterMark, until 'drain'.
// The hostile peer is Python's ssl module calling SSL_key_update through ctypes
// (test/helpers/python/keyupdate_flood.py).
import t from 'tap';
import * as net from 'node:net';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createServer, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor, SOON } from './helpers/owned';

const KiB = 1024;
const MiB = 1024 * KiB;
const script = join(__dirname, 'helpers', 'python', 'keyupdate_flood.py');

t.test(
  'a KeyUpdate flood from a peer that never reads stops the server reading, with a flat write queue',
  async (t) => {
    // The net.Socket's queue and reads are watched: the stream path (native-transport.test.ts has
    // the same flood against the addon's own reads).
    const server = createServer(
      { key: certs.serverKey, cert: certs.serverChain, maxVersion: 'TLSv1.3', nativeTransport: false },
      (socket: TLSSocket) => {
        socket.on('error', () => {});
      },
    );
    const transports: net.Socket[] = [];
    server.on('connection', (socket: net.Socket) => transports.push(socket));
    const port = await listen(t, server);

    const peer = spawn('python3', [script, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => peer.kill('SIGKILL'));
    let output = '';
    peer.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    peer.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(server, 'secureConnection', SOON);
    const transport = transports[0]!;

    // Without the pause the queue grows once the kernel buffers are full (a few MiB of answers).
    let peak = 0;
    const deadline = Date.now() + 60_000;
    while (!transport.isPaused() && transport.writableLength < MiB && Date.now() < deadline && !transport.destroyed) {
      peak = Math.max(peak, transport.writableLength);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    t.ok(transport.isPaused(), `the server stopped reading (peer said: ${output.trim().split('\n').pop()})`);
    // Watch a little longer: the queue stays where it stopped and no further KeyUpdate is read.
    const readAtPause = transport.bytesRead;
    for (let i = 0; i < 25; i++) {
      peak = Math.max(peak, transport.writableLength);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const bound = transport.writableHighWaterMark + 256 * KiB;
    t.ok(
      peak <= bound,
      `write queue peaked at ${(peak / KiB).toFixed(0)} KiB ` +
        `(bound: highWaterMark plus the answers to one read, ${bound / KiB} KiB)`,
    );
    // A read libuv had already completed when the pause came may still land: at most one (64 KiB).
    t.ok(
      transport.bytesRead - readAtPause <= 64 * KiB,
      `nothing more was read while the queue waits (${transport.bytesRead - readAtPause} bytes)`,
    );
  },
);
