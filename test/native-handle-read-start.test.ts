// Native path: once the addon reads the socket's descriptor, node's own handle never does. A
// net.Socket created with an `onread` buffer starts its handle from read() itself, not through
// _read (net.Socket#read calls the handle's readStart directly): the handle's readStart is closed
// too, so such a socket handed to connect({ socket }) yields no raw TLS records to its callback.
import t from 'tap';
import * as net from 'node:net';
import { createServer, connect } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor, SOON } from './helpers/owned';

const posix = process.platform !== 'win32';

t.test("read() on a socket with an onread buffer does not make node's handle read", { skip: !posix }, async (t) => {
  const server = createServer({ key: certs.serverKey, cert: certs.serverChain }, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  const port = await listen(t, server);
  let rawBytes = 0;
  const raw = net.connect({
    host: '127.0.0.1',
    port,
    onread: {
      buffer: Buffer.alloc(64 * 1024),
      callback: (n: number): boolean => {
        rawBytes += n;
        return true;
      },
    },
  });
  const client = connect({ socket: raw, ca: certs.ca, servername: 'localhost' });
  t.teardown(() => client.destroy());
  client.on('error', () => {});
  await waitFor(client, 'secureConnect', SOON);
  t.ok(client.nativeTransport, 'the client is on the native path');
  const message = Buffer.alloc(256 * 1024, 'a');
  let echoed = 0;
  client.on('data', (chunk: Buffer) => (echoed += chunk.length));
  for (let i = 0; i < 4; i++) {
    raw.read(0);
    client.write(message);
  }
  const until = Date.now() + 10_000;
  while (echoed < 4 * message.length && !client.destroyed && Date.now() < until) {
    raw.read(0);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.equal(rawBytes, 0, "node's handle read none of the TLS stream");
  t.equal(echoed, 4 * message.length, 'the echo came back whole');
});
