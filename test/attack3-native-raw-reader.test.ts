// Attack (third outside review): on the native I/O path the addon reads a dup() of the accepted
// socket's descriptor, and NativeIO keeps node's own handle from reading by replacing the
// net.Socket's pause() and resume() (lib/tls/native-io.ts, #steerStreamControls). Those are not
// node's only ways in: a 'readable' listener, read(), for await and pipeline() reach
// net.Socket#_read, which calls the handle's readStart() directly. The net.Socket is handed to
// the app by the server's own 'connection' event (and by connect({ socket }) on a client), so an
// app or middleware that attaches a 'readable' listener there (byte counters, proxy-protocol
// sniffers, idle trackers) makes two readers share the descriptor: the app receives raw TLS
// records, the TLS stream loses them at random and the connection fails with a TLS alert.
//
// Shown: a server whose 'connection' listener drains the net.Socket with 'readable'/read(); the
// raw reader gets part of the TLS stream and an echo over TLS breaks.
//
// Suggested fix: while the addon owns the descriptor, neutralise every way node's handle can
// start reading, e.g. replace the net.Socket's _read (the one path to readStart) with a no-op on
// the instance, or keep the stream path when anything but us may read the socket; document that
// the transport yields no data on the native path.
import t from 'tap';
import type * as net from 'node:net';
import { createServer, connect } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor, SOON } from './helpers/owned';

const posix = process.platform !== 'win32';

t.test(
  "a 'readable' listener on the accepted net.Socket does not make node read the addon's socket",
  { skip: !posix },
  async (t) => {
    const server = createServer({ key: certs.serverKey, cert: certs.serverChain }, (socket) => {
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    let rawBytes = 0;
    server.on('connection', (raw: net.Socket) => {
      raw.on('readable', () => {
        for (let chunk = raw.read() as Buffer | null; chunk !== null; chunk = raw.read() as Buffer | null) {
          rawBytes += chunk.length;
        }
      });
    });
    const port = await listen(t, server);
    const client = connect({ host: '127.0.0.1', port, ca: certs.ca, servername: 'localhost' });
    t.teardown(() => client.destroy());
    client.on('error', () => {});
    await waitFor(client, 'secureConnect', SOON);
    const message = Buffer.alloc(256 * 1024, 'a');
    let echoed = 0;
    client.on('data', (chunk: Buffer) => (echoed += chunk.length));
    let error: Error | null = null;
    client.once('error', (e: Error) => (error = e));
    for (let i = 0; i < 8; i++) client.write(message);
    const until = Date.now() + 10_000;
    while (echoed < 8 * message.length && error === null && !client.destroyed && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    t.equal(rawBytes, 0, `the net.Socket's own reader got ${rawBytes} bytes of the TLS stream`);
    t.equal(echoed, 8 * message.length, `the echo came back whole (${echoed} bytes), error: ${String(error)}`);
  },
);
