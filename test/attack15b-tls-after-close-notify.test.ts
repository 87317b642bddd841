// Attack (pending states are budgets; close_notify games): a TLS peer sends close_notify and then,
// without ever closing its side of TCP, keeps sending bytes. After close_notify OpenSSL reads no
// more records (SSL_read answers "zero return" at once), so nothing consumes what arrives: every
// byte the server's transport reads from then on piles up in the connection's ciphertext buffer,
// which only OpenSSL reading it ever trims. These bytes are never plaintext, so neither the
// readable highWaterMark nor maxHeldBytes sees them.
// - With `allowHalfOpen: true` (the server may still answer after the peer's end) nothing times
//   the connection out: the peer makes the server buffer everything it sends, for good (a manual
//   run: 256 MiB sent, 256 MiB read, RSS up 249 MiB).
// - With the default options the same happens while any decision is pending (here a setPolicy()
//   re-check, bounded only in time): the docs bound what a held connection takes in by the
//   highWaterMark, or by maxHeldBytes while a certificate request is out, never by time alone.
//
// - The library's client (connect()) reads the same way after a hostile server's close_notify.
//
// A correct library stops reading the transport once the peer's close_notify is in (or discards
// what follows it, or cuts the connection): what it reads after the close_notify stays bounded,
// here well under the 8 MiB the peer sends.
import t, { type Test } from 'tap';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { connect, createServer, type ServerOptions, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor } from './helpers/owned';
import { noFin } from './helpers/no-fin';

const MiB = 1024 * 1024;

/** Connects a node:tls client whose close_notify is not followed by a FIN; resolves with both ends. */
async function halfClosingPeer(
  t: Test,
  options: ServerOptions,
): Promise<{ server: ReturnType<typeof createServer>; socket: TLSSocket; client: tls.TLSSocket; raw: net.Socket }> {
  const server = createServer({ key: certs.serverKey, cert: certs.serverChain, maxVersion: 'TLSv1.3', ...options });
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection');
  const port = await listen(t, server);
  const raw = net.connect(port, '127.0.0.1');
  await waitFor(raw, 'connect');
  t.teardown(() => raw.destroy());
  const client = tls.connect({ socket: noFin(raw), servername: 'localhost', rejectUnauthorized: false });
  client.on('error', () => {});
  await waitFor(client, 'secureConnect');
  const [socket] = await accepted;
  socket.on('error', () => {});
  socket.resume();
  return { server, socket, client, raw };
}

/** Streams `total` bytes of junk down `raw`, honouring its backpressure. */
async function stream(raw: net.Socket, total: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x17);
  for (let sent = 0; sent < total && !raw.destroyed; sent += chunk.length) {
    if (!raw.write(chunk))
      await Promise.race([waitFor(raw, 'drain', 2_000).catch(() => {}), waitFor(raw, 'close', 2_000).catch(() => {})]);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
}

for (const nativeTransport of [true, false]) {
  t.test(
    `allowHalfOpen: bytes after close_notify are not read without bound (native ${nativeTransport})`,
    async (t) => {
      const { socket, client, raw } = await halfClosingPeer(t, { nativeTransport, allowHalfOpen: true });
      const ended = waitFor(socket, 'end');
      client.end(); // close_notify, no FIN
      await ended;
      const transport = socket.transport as net.Socket;
      const before = transport.bytesRead;
      await stream(raw, 8 * MiB);
      const after = transport.bytesRead - before;
      t.ok(
        after < 1 * MiB || socket.destroyed,
        `the server read ${(after / MiB).toFixed(2)} MiB after the peer's close_notify ` +
          `(and is ${socket.destroyed ? 'closed' : 'open'}), bytes nothing will ever consume`,
      );
    },
  );

  t.test(
    `default options: a pending decision reads no unbounded bytes after close_notify (native ${nativeTransport})`,
    async (t) => {
      const { server, socket, client, raw } = await halfClosingPeer(t, {
        nativeTransport,
        maxHeldBytes: 1 * MiB,
        policyTimeout: 60_000,
      });
      // A re-decision that waits for a slow policy holds the connection's data.
      let answer!: (allow: boolean) => void;
      const decided = server.setPolicy(() => new Promise<boolean>((resolve) => (answer = resolve)));
      decided.catch(() => {});
      t.equal(socket.gateHeld, true, 'the connection is held while the policy decides');
      client.write('a request');
      client.end(); // close_notify, no FIN
      await new Promise((resolve) => setTimeout(resolve, 100));
      const transport = socket.transport as net.Socket;
      const before = transport.bytesRead;
      await stream(raw, 8 * MiB);
      const after = transport.bytesRead - before;
      answer(true);
      t.ok(
        after < 2 * MiB || socket.destroyed,
        `the held server read ${(after / MiB).toFixed(2)} MiB after the peer's close_notify (maxHeldBytes 1 MiB, ` +
          `highWaterMark 16 KiB)`,
      );
    },
  );
}

// The library's client reads the same way: a hostile server does to it what the peer above does.
// The server is node:tls behind a relay that forwards its close_notify but not its FIN.
t.test("a client (allowHalfOpen) does not read without bound after the server's close_notify", async (t) => {
  const upstream = tls.createServer({ key: certs.serverKey, cert: certs.serverChain }, (socket) => {
    socket.on('error', () => {});
    socket.end(); // close_notify, then FIN (which the relay drops)
  });
  const upstreamPort = await listen(t, upstream);
  const relay = net.createServer();
  const relayed = waitFor<[net.Socket]>(relay, 'connection');
  const port = await listen(t, relay);
  let upstreamEnded!: () => void;
  const closeNotifySent = new Promise<void>((resolve) => (upstreamEnded = resolve));
  relay.on('connection', (raw: net.Socket) => {
    raw.on('error', () => {});
    const up = net.connect(upstreamPort, '127.0.0.1');
    up.on('error', () => {});
    up.on('data', (chunk: Buffer) => raw.write(chunk));
    up.on('end', () => upstreamEnded());
    raw.on('data', (chunk: Buffer) => up.write(chunk));
    t.teardown(() => void up.destroy());
  });
  const client = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    rejectUnauthorized: false,
    allowHalfOpen: true,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const [raw] = await relayed;
  t.teardown(() => raw.destroy());
  let ended = false;
  client.on('end', () => (ended = true));
  client.resume();
  await closeNotifySent;
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.ok(ended, "the client took the server's close_notify");
  const transport = client.transport as net.Socket;
  const before = transport.bytesRead;
  await stream(raw, 8 * MiB);
  const after = transport.bytesRead - before;
  t.ok(
    after < 1 * MiB || client.destroyed,
    `the client read ${(after / MiB).toFixed(2)} MiB after the server's close_notify ` +
      `(and is ${client.destroyed ? 'closed' : 'open'})`,
  );
});
