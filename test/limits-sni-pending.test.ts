// While an asynchronous SNICallback is pending the handshake waits at the ClientHello and OpenSSL
// consumes nothing. A peer that sends its ClientHello and then floods must not fill the server's
// memory: the server stops reading the transport until the callback answers (so the flood stays in
// the peer's socket buffers), resumes afterwards, and handshakeTimeout bounds the wait.
import t from 'tap';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createServer, connect, createSecureContext, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor, SOON } from './helpers/owned';

const MiB = 1024 * 1024;
const identity = { key: certs.serverKey, cert: certs.serverChain };

/** The first flight of a node:tls client asking for `servername`, as raw bytes. */
async function captureClientHello(servername: string): Promise<Buffer> {
  const catcher = net.createServer();
  await new Promise<void>((resolve) => catcher.listen(0, '127.0.0.1', resolve));
  const port = (catcher.address() as net.AddressInfo).port;
  const hello = new Promise<Buffer>((resolve) =>
    catcher.once('connection', (socket) =>
      socket.once('data', (chunk: Buffer) => {
        resolve(chunk);
        socket.destroy();
      }),
    ),
  );
  const client = tls.connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false });
  client.on('error', () => {});
  const bytes = await hello;
  client.destroy();
  catcher.close();
  return bytes;
}

t.test('a flood behind a ClientHello waiting for SNICallback is not read', async (t) => {
  let answer: ((error: Error | null, context?: ReturnType<typeof createSecureContext>) => void) | null = null;
  let onAsked!: () => void;
  const asked = new Promise<void>((resolve) => (onAsked = resolve));
  const server = createServer({
    ...identity,
    SNICallback: (_name, callback) => {
      answer = callback;
      onAsked();
    },
  });
  const failures: Array<{ code?: string }> = [];
  server.on('tlsClientError', (error: Error & { code?: string }) => failures.push(error));
  const transports: net.Socket[] = [];
  server.on('connection', (socket: net.Socket) => transports.push(socket));
  const port = await listen(t, server);

  const hello = await captureClientHello('slow.example');
  const peer = net.connect({ port, host: '127.0.0.1' });
  peer.on('error', () => {});
  t.teardown(() => peer.destroy());
  await waitFor(peer, 'connect');
  peer.write(hello);
  await asked;
  const flood = 64 * MiB;
  peer.write(Buffer.alloc(flood, 0x17)); // ignores backpressure: all of it is queued at once

  // Wait until the flood is stuck: the peer's queue stops shrinking. Without the pause the
  // server would read all 64 MiB in well under a second.
  const transport = transports[0]!;
  let previous = -1;
  const deadline = Date.now() + SOON;
  while (Date.now() < deadline && transport.bytesRead < flood) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (peer.writableLength === previous) break;
    previous = peer.writableLength;
  }
  const read = transport.bytesRead;
  t.ok(read < 2 * MiB, `the server read ${(read / MiB).toFixed(2)} MiB of the ${flood / MiB} MiB flood`);
  t.ok(peer.writableLength > flood / 2, 'the rest waits on the peer side');

  // Once the callback answers, reading resumes and the junk fails the handshake with a code.
  const failed = waitFor<[Error & { code?: string }]>(server, 'tlsClientError', SOON);
  answer!(null, createSecureContext(identity, true));
  const [error] = await failed;
  t.match(error.code, /^ERR_(SSL|CTLS)_/, `coded: ${error.code}`);
});

t.test('an SNICallback that never answers is bounded by handshakeTimeout', async (t) => {
  const server = createServer({ ...identity, handshakeTimeout: 500, SNICallback: () => {} });
  const port = await listen(t, server);
  const failed = waitFor<[Error & { code?: string }]>(server, 'tlsClientError', SOON);
  const client = tls.connect({ port, host: '127.0.0.1', servername: 'never.example', rejectUnauthorized: false });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const [error] = await failed;
  t.equal(error.code, 'ERR_CTLS_HANDSHAKE_TIMEOUT');
});

t.test('a slow SNICallback still completes the handshake and the data flows', async (t) => {
  const server = createServer(
    {
      ...identity,
      SNICallback: (_name, callback) => {
        setTimeout(() => callback(null, createSecureContext(identity, true)), 50);
      },
    },
    (socket: TLSSocket) => socket.pipe(socket),
  );
  const port = await listen(t, server);
  const client = connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca });
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect', SOON);
  const payload = Buffer.alloc(MiB, 0x42);
  client.write(payload);
  let received = 0;
  await new Promise<void>((resolve) =>
    client.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= payload.length) resolve();
    }),
  );
  t.equal(received, payload.length, 'the echo came back whole');
});
