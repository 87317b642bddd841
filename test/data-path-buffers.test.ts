// The bulk data path reuses memory: ciphertext goes out through buffers lent
// from a pool (lib/ciphertext-pool.ts), and over libuv sockets plaintext is
// decrypted into the very chunk the transport read (cycle's inPlace). These
// tests hold both to their conditions: bytes arrive intact whatever the write
// sizes and read pauses, and no memory someone else may still look at (a
// second 'data' listener, a JS Duplex and its peer) is ever overwritten.
import t, { type Test } from 'tap';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, connect, type TLSSocket } from '../dist/index.js';
import { native, type NativeTlsConnection } from '../dist/tls/native.js';
import { contextHandle, createSecureContext } from '../dist/tls/context.js';
import type { Server, ServerOptions } from '../dist/server.js';
import { certs } from './helpers/certs';
import { listen, waitFor, SOON } from './helpers/owned';

const serverOptions: ServerOptions = {
  key: certs.serverKey,
  cert: certs.serverChain,
  ca: certs.ca,
  requestCert: true,
  allowHalfOpen: true,
};
const clientOptions = {
  servername: 'localhost',
  ca: certs.ca,
  key: certs.clientKey,
  cert: certs.clientChain,
  allowHalfOpen: true,
};
const MB = 1024 * 1024;

async function tcpPair(
  t: Test,
  extra: Partial<ServerOptions> = {},
): Promise<{ server: Server; ours: TLSSocket; theirs: TLSSocket }> {
  const server = createServer({ ...serverOptions, ...extra });
  const port = await listen(t, server);
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const ours = connect({ port, host: '127.0.0.1', ...clientOptions });
  t.teardown(() => ours.destroy());
  await waitFor(ours, 'secureConnect', SOON);
  const [theirs] = await accepted;
  return { server, ours, theirs };
}

/** Random pieces from 1 byte to 200 KB: records straddle every read boundary. */
function pieces(total: number): Buffer[] {
  const out: Buffer[] = [];
  let left = total;
  while (left > 0) {
    const size = Math.min(left, randomInt(1, 3) === 1 ? randomInt(1, 64) : randomInt(1, 200_000));
    out.push(randomBytes(size));
    left -= size;
  }
  return out;
}

/** Writes every piece with backpressure, then ends. */
async function send(socket: Duplex, list: Buffer[]): Promise<void> {
  for (const piece of list) {
    if (!socket.write(piece)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  socket.end();
}

/** Reads to the end, pausing now and then so chunks queue up; keeps every chunk as delivered. */
function receive(socket: Duplex): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    if (chunks.length % 17 === 0) {
      socket.pause();
      setTimeout(() => socket.resume(), 5);
    }
  });
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve(chunks));
    socket.once('error', reject);
  });
}

const digest = (list: Buffer[]): string => {
  const hash = createHash('sha256');
  for (const piece of list) hash.update(piece);
  return hash.digest('hex');
};

t.test('over TCP, random write sizes and a pausing reader: 12 MB each way arrive intact', async (t) => {
  const { ours, theirs } = await tcpPair(t);
  const up = pieces(12 * MB);
  const down = pieces(12 * MB);
  const [receivedUp, receivedDown] = await Promise.all([
    receive(theirs),
    receive(ours),
    send(ours, up),
    send(theirs, down),
  ]);
  t.equal(digest(receivedUp), digest(up), 'client -> server intact and in order');
  t.equal(digest(receivedDown), digest(down), 'server -> client intact and in order');
  // Delivered chunks are never touched again by the library: hashing them a
  // second time, after everything else ran, gives the same answer.
  t.equal(digest(receivedUp), digest(up), 'chunks kept by the reader stay as they were delivered');
});

t.test('a second listener on the TCP transport keeps the ciphertext it was shown', async (t) => {
  // Chunks a transport emits exist only on the stream path (native-transport.test.ts covers the other).
  const { ours, theirs } = await tcpPair(t, { nativeTransport: false });
  const seen: Array<{ chunk: Buffer; copy: Buffer }> = [];
  theirs.transport.on('data', (chunk: Buffer) => seen.push({ chunk, copy: Buffer.from(chunk) }));
  const up = pieces(4 * MB);
  const [received] = await Promise.all([receive(theirs), send(ours, up), receive(ours), theirs.end()]);
  t.equal(digest(received), digest(up), 'data intact');
  t.ok(seen.length > 0, 'the listener saw the ciphertext');
  const changed = seen.filter(({ chunk, copy }) => !chunk.equals(copy)).length;
  t.equal(changed, 0, 'no chunk the other listener holds was overwritten');
  t.ok(
    seen.some(({ chunk }) => chunk[0] === 0x17),
    'they still hold TLS records (type 23), not the plaintext',
  );
});

/**
 * An in-memory transport pair that hands each written chunk, as the very
 * object, to the peer (as in-memory streams do), and remembers each with a
 * copy of its bytes at the time of the write.
 */
function recordingPair(): { ends: [Duplex, Duplex]; written: Array<{ chunk: Buffer; copy: Buffer }> } {
  const written: Array<{ chunk: Buffer; copy: Buffer }> = [];
  const sides: Duplex[] = [];
  const make = (index: number): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        written.push({ chunk, copy: Buffer.from(chunk) });
        const other = sides[1 - index]!;
        if (!other.destroyed) other.push(chunk);
        callback();
      },
      final(callback) {
        sides[1 - index]!.push(null);
        callback();
      },
      // Like TCP, closing one end lets the other read what was already sent.
      destroy(error, callback) {
        const other = sides[1 - index]!;
        if (!other.destroyed && !other.readableEnded) other.push(null);
        callback(error);
      },
    });
  sides.push(make(0), make(1));
  return { ends: [sides[0]!, sides[1]!], written };
}

t.test('over a JS Duplex, no buffer handed to the transport is reused or overwritten', async (t) => {
  const server = createServer(serverOptions);
  t.teardown(() => server.close());
  const { ends, written } = recordingPair();
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  server.emit('connection', ends[0]);
  const ours = connect({ socket: ends[1], ...clientOptions });
  t.teardown(() => ours.destroy());
  const [theirs] = await accepted;
  const up = pieces(3 * MB);
  const down = pieces(3 * MB);
  const [receivedUp, receivedDown] = await Promise.all([
    receive(theirs),
    receive(ours),
    send(ours, up),
    send(theirs, down),
  ]);
  t.equal(digest(receivedUp), digest(up), 'client -> server intact');
  t.equal(digest(receivedDown), digest(down), 'server -> client intact');
  await sleep(20);
  t.ok(written.length > 50, `many ciphertext chunks crossed the pair (${written.length})`);
  const changed = written.filter(({ chunk, copy }) => !chunk.equals(copy)).length;
  t.equal(changed, 0, 'every chunk still holds the bytes it was written with');
});

// ---- the native contract under both paths -----------------------------------

/** A client and a server TlsConnection joined in memory, handshake done. */
function nativePair(): { client: NativeTlsConnection; server: NativeTlsConnection } {
  const serverContext = createSecureContext({ key: certs.serverKey, cert: certs.serverChain }, true);
  const clientContext = createSecureContext({ ca: certs.ca }, false);
  const server = new native.TlsConnection(contextHandle(serverContext), true, { requestCert: false });
  const client = new native.TlsConnection(contextHandle(clientContext), false, {
    servername: 'localhost',
    rejectUnauthorized: true,
  });
  let toServer: Buffer | null = client.cycle()[1];
  for (let i = 0; i < 10 && toServer !== null; i++) {
    const toClient = server.cycle(toServer)[1];
    toServer = toClient === null ? null : client.cycle(toClient)[1];
  }
  if (!client.getInfo().handshakeDone || !server.getInfo().handshakeDone)
    throw new Error('in-memory handshake did not complete');
  return { client, server };
}

t.test('write(data, out): ciphertext goes into the lent buffer when it fits, else into a new one', async (t) => {
  const { client, server } = nativePair();
  const out = Buffer.alloc(4096, 0xee);
  const [, fresh, , error, consumed, placed] = client.write(Buffer.from('into the lent buffer'), out);
  t.equal(error, null);
  t.equal(consumed, 20);
  t.equal(fresh, null, 'no new buffer');
  t.ok(placed > 20, `the record is in out (${placed} bytes)`);
  t.equal(out[0], 0x17, 'starting with an application-data record header');
  t.equal(out[placed], 0xee, 'and nothing past what it reports');
  const [plaintext] = server.cycle(Buffer.from(out.subarray(0, placed)));
  t.equal(plaintext?.toString(), 'into the lent buffer', 'the peer decrypts it');

  const small = Buffer.alloc(16, 0xee);
  const [, overflow, , , , none] = client.write(Buffer.alloc(1000, 0x61), small);
  t.equal(none, 0, 'a lent buffer too small is left alone');
  t.ok(overflow !== null && overflow.length > 1000, 'the ciphertext comes back in a new buffer');
  t.ok(
    small.every((byte) => byte === 0xee),
    'and the small buffer is untouched',
  );
  t.equal(server.cycle(overflow!)[0]?.length, 1000);

  // Several records, the first of which fits: all of them come back, in order, in one new buffer.
  const forty = randomBytes(40 * 1024);
  const [, spilled, , , , partly] = client.write(forty, Buffer.alloc(20 * 1024));
  t.equal(partly, 0, 'nothing reported in the lent buffer once the output outgrew it');
  t.same(server.cycle(spilled!)[0], forty, 'the peer reads the 40 KB intact');

  // Without a lent buffer: 1 MB at once, then a small write after the big one.
  const big = randomBytes(1024 * 1024);
  const [, bigCiphertext, , , bigConsumed] = client.write(big);
  t.equal(bigConsumed, big.length);
  t.same(server.cycle(bigCiphertext!)[0], big, '1 MB through the private buffer');
  const [, smallCiphertext] = client.write(Buffer.from('after'));
  t.equal(server.cycle(smallCiphertext!)[0]?.toString(), 'after');
});

t.test('cycle(chunk, false, true): plaintext overwrites the chunk; what does not fit comes back apart', async (t) => {
  const { client, server } = nativePair();
  const message = randomBytes(3000);
  const record = client.write(message)[1]!;

  const chunk = Buffer.from(record);
  const [plaintext, , , error, placed] = server.cycle(chunk, false, true);
  t.equal(error, null);
  t.equal(placed, 3000, 'all plaintext placed in the chunk');
  t.equal(plaintext, null, 'nothing apart');
  t.same(chunk.subarray(0, placed), message, 'the chunk now starts with the plaintext');

  // A record cut in two: the second piece is shorter than the plaintext it
  // completes, so only its length fits and the rest comes back as a buffer.
  const second = client.write(message)[1]!;
  const head = Buffer.from(second.subarray(0, 2500));
  const tail = Buffer.from(second.subarray(2500));
  const [none, , , , nothing] = server.cycle(head, false, true);
  t.equal(none, null, 'half a record yields nothing');
  t.equal(nothing, 0);
  t.ok(head.equals(second.subarray(0, 2500)), 'and the chunk it came in is untouched');
  const [rest, , , , fitted] = server.cycle(tail, false, true);
  t.equal(fitted, tail.length, 'the tail chunk is filled with plaintext');
  t.same(Buffer.concat([tail.subarray(0, fitted), rest!]), message, 'the overflow continues it exactly');

  // Without inPlace the chunk is never written.
  const third = client.write(message)[1]!;
  const kept = Buffer.from(third);
  const [copied, , , , zero] = server.cycle(kept);
  t.equal(zero, 0);
  t.same(copied, message);
  t.ok(kept.equals(third), 'the chunk still holds the ciphertext');
});
