// TLSSocket as a stream: bulk data with backpressure both ways, half-close, close_notify,
// setTimeout, handshakeTimeout, destroy mid-stream and writes after destroy.
import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { Duplex, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, connect, type TLSSocket } from '../dist/index.js';
import type { Server, ServerOptions } from '../dist/server.js';
import type { ConnectOptions } from '../dist/client.js';
import { certs } from './helpers/certs';
import { listen, waitFor, closed, duplexPair, SOON } from './helpers/owned';

const serverOptions: ServerOptions = { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true };
const MB = 1024 * 1024;

function client(port: number, options: Partial<ConnectOptions> = {}): TLSSocket {
  const socket = connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    ...options,
  });
  t.teardown(() => socket.destroy());
  return socket;
}

async function pair(
  t: Test,
  options: Partial<ServerOptions> = {},
  clientOptions: Partial<ConnectOptions> = {},
): Promise<{ server: Server; port: number; ours: TLSSocket; theirs: TLSSocket }> {
  const server = createServer({ ...serverOptions, ...options });
  const port = await listen(t, server);
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const ours = client(port, clientOptions);
  const secure = waitFor(ours, 'secureConnect', SOON);
  const [theirs] = await accepted;
  await secure;
  return { server, port, ours, theirs };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads a stream to its end, hashing and counting, without keeping the bytes. */
function drain(stream: Duplex): Promise<{ bytes: number; digest: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve({ bytes, digest: hash.digest('hex') }));
    stream.once('error', reject);
  });
}

/** Waits until `predicate` holds, polling; fails after `ms`. */
async function until(predicate: () => boolean, ms = SOON): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(10);
  }
}

t.test('8 MB each way, with backpressure from a paused reader on both sides', async (t) => {
  const { ours, theirs } = await pair(t, { allowHalfOpen: true }, { allowHalfOpen: true });
  const upload = randomBytes(8 * MB);
  const download = randomBytes(8 * MB);
  // Nobody reads yet: both readable sides stay paused.
  let uploadWritten = false;
  let downloadWritten = false;
  ours.end(upload, () => (uploadWritten = true));
  theirs.end(download, () => (downloadWritten = true));

  // Give the writers ample time to push everything they would if nothing pushed back.
  await sleep(500);
  const serverTransport = theirs.transport as net.Socket;
  const clientTransport = ours.transport as net.Socket;
  t.ok(
    serverTransport.bytesRead < 2 * MB,
    `server transport stopped reading (${serverTransport.bytesRead} bytes read)`,
  );
  t.ok(
    clientTransport.bytesRead < 2 * MB,
    `client transport stopped reading (${clientTransport.bytesRead} bytes read)`,
  );
  t.notOk(uploadWritten, 'the client write has not completed: it feels the backpressure');
  t.notOk(downloadWritten, 'the server write has not completed');
  t.ok(
    theirs.readableLength < MB && ours.readableLength < MB,
    `plaintext buffered on the paused sides is bounded (${theirs.readableLength}, ${ours.readableLength})`,
  );

  const [received, returned] = await Promise.all([drain(theirs), drain(ours)]);
  t.equal(received.bytes, upload.length, 'all uploaded bytes');
  t.equal(received.digest, sha256(upload), 'uploaded bytes intact and in order');
  t.equal(returned.bytes, download.length, 'all downloaded bytes');
  t.equal(returned.digest, sha256(download), 'downloaded bytes intact and in order');
  await until(() => uploadWritten && downloadWritten);
});

t.test(
  "piped into a slow destination: every byte in order, and the pipe's backpressure bounds the buffer",
  async (t) => {
    const { ours, theirs } = await pair(t);
    const data = randomBytes(8 * MB);
    let maxBuffered = 0;
    const hash = createHash('sha256');
    let received = 0;
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        // What waits between the socket and the destination: the socket's buffer and the pipe's.
        maxBuffered = Math.max(maxBuffered, theirs.readableLength + slow.writableLength);
        hash.update(chunk);
        received += chunk.length;
        setImmediate(callback);
      },
    });
    const finished = new Promise<void>((resolve, reject) => {
      slow.once('finish', resolve);
      slow.once('error', reject);
    });
    theirs.pipe(slow);
    ours.end(data);
    await finished;
    t.equal(received, data.length, 'every byte');
    t.equal(hash.digest('hex'), sha256(data), 'in order');
    t.ok(maxBuffered <= MB, `the socket stopped reading while the pipe waited (at most ${maxBuffered} bytes buffered)`);
  },
);

t.test('many small writes arrive in order', async (t) => {
  const { ours, theirs } = await pair(t);
  const pieces: Buffer[] = [];
  for (let i = 0; i < 5000; i++) pieces.push(Buffer.from(`${i},`));
  for (const piece of pieces) ours.write(piece);
  ours.end();
  const received = await drain(theirs);
  t.equal(received.digest, sha256(Buffer.concat(pieces)));
});

t.test('half-close with allowHalfOpen: the server reads end and still answers', async (t) => {
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    t.test(version, async (t) => {
      const { ours, theirs } = await pair(t, { allowHalfOpen: true, maxVersion: version });
      const request: Buffer[] = [];
      theirs.on('data', (chunk: Buffer) => request.push(chunk));
      const serverEnded = waitFor(theirs, 'end', SOON);
      ours.end('question');
      await serverEnded;
      t.equal(Buffer.concat(request).toString(), 'question', 'the request, then end');
      t.equal(theirs.writable, true, 'the server can still write');
      const answer = drain(ours);
      theirs.end('answer after the client finished');
      const { bytes } = await answer;
      t.equal(bytes, 'answer after the client finished'.length, 'the client got the answer and then end');
      await closed(theirs);
      await closed(ours);
    });
  }

  t.test('without allowHalfOpen the server side closes after end', async (t) => {
    const { ours, theirs } = await pair(t, { allowHalfOpen: false });
    theirs.resume();
    ours.end();
    await closed(theirs);
    t.pass('closed');
  });
});

t.test('close_notify ends the peer even when the transport never sends FIN', async (t) => {
  for (const direction of ['client to server', 'server to client'] as const) {
    t.test(direction, async (t) => {
      const server = createServer(serverOptions);
      t.teardown(() => server.close());
      const [serverEnd, clientEnd] = duplexPair({ propagateEnd: false });
      const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
      server.emit('connection', serverEnd);
      const ours = connect({
        socket: clientEnd,
        servername: 'localhost',
        ca: certs.ca,
        key: certs.clientKey,
        cert: certs.clientChain,
        allowHalfOpen: true,
      });
      t.teardown(() => ours.destroy());
      const [theirs] = await accepted;
      const [ender, reader] = direction === 'client to server' ? [ours, theirs] : [theirs, ours];
      const ended = waitFor(reader, 'end', SOON);
      reader.resume();
      // The server does not allow half-open connections: when it reads the client's
      // close_notify it ends too, and its own close_notify must reach the client.
      const answered = direction === 'client to server' ? waitFor(ender, 'end', SOON) : undefined;
      ender.resume();
      ender.end('last words');
      await ended;
      t.pass('the reader saw end: close_notify arrived');
      if (answered !== undefined) {
        await answered;
        t.pass('and the server answered with its own close_notify');
      }
    });
  }
});

t.test('setTimeout emits timeout on an idle socket', async (t) => {
  const { ours, theirs } = await pair(t);
  const start = Date.now();
  let callbackRan = false;
  theirs.setTimeout(150, () => (callbackRan = true));
  await waitFor(theirs, 'timeout', SOON);
  t.ok(Date.now() - start >= 100, 'not before the timeout');
  t.ok(callbackRan, 'the callback form too');
  t.equal(theirs.destroyed, false, 'a timeout does not destroy the socket (like net)');

  // Traffic postpones it (margins are wide: a loaded machine may stall the loop).
  ours.setTimeout(800);
  let fired = false;
  ours.on('timeout', () => (fired = true));
  const pinger = setInterval(() => theirs.write('tick'), 50);
  ours.resume();
  await sleep(1600);
  clearInterval(pinger);
  t.notOk(fired, 'no timeout while data flows');
  await waitFor(ours, 'timeout', SOON);
  ours.setTimeout(0);
  t.pass('fires once the traffic stops');
});

t.test('handshakeTimeout: a client that never speaks is dropped with ERR_CTLS_HANDSHAKE_TIMEOUT', async (t) => {
  const server = createServer({ ...serverOptions, handshakeTimeout: 300 });
  const port = await listen(t, server);
  const start = Date.now();
  const failure = waitFor<[Error & { code?: string }]>(server, 'tlsClientError', SOON);
  const silent = net.connect({ port, host: '127.0.0.1' });
  t.teardown(() => silent.destroy());
  silent.on('error', () => {});
  const [error] = await failure;
  const elapsed = Date.now() - start;
  t.equal(error.code, 'ERR_CTLS_HANDSHAKE_TIMEOUT');
  t.ok(elapsed >= 250 && elapsed < 5000, `after about the timeout (${elapsed} ms)`);
  await closed(silent);
  t.equal(server.connections().length, 0, 'the connection is gone');

  // Our client's own handshakeTimeout against a server that never answers.
  const mute = net.createServer((socket) => socket.on('data', () => {}));
  const mutePort = await listen(t, mute);
  const waiting = client(mutePort, { handshakeTimeout: 200 });
  const [clientError] = await waitFor<[Error & { code?: string }]>(waiting, 'error', SOON);
  t.equal(clientError.code, 'ERR_CTLS_HANDSHAKE_TIMEOUT');
});

t.test('a reader that is not reading when the peer closes still gets every byte, then end', async (t) => {
  const { ours, theirs } = await pair(t);
  const last = randomBytes(10 * 1024);
  const transportClosed = waitFor(ours.transport, 'close', SOON);
  // Less than the readable high-water mark: the client takes it all in,
  // then close_notify and the FIN, without ever pausing its transport.
  theirs.end(last);
  await transportClosed;
  t.equal(ours.destroyed, false, 'the transport is gone but the unread plaintext is kept');
  t.equal(ours.readableLength, last.length, 'all of it buffered');
  const ended = waitFor(ours, 'end', SOON);
  const received = drain(ours);
  await ended;
  t.equal((await received).digest, sha256(last), 'every byte, in order');
  await closed(ours);
  t.pass('and the socket closes after end');
});

t.test('destroy() mid-stream cleans up both ends', async (t) => {
  const { server, ours, theirs } = await pair(t);
  const chunk = randomBytes(64 * 1024);
  const pump = setInterval(() => ours.write(chunk), 5);
  t.teardown(() => clearInterval(pump));
  ours.on('error', () => {});
  let received = 0;
  theirs.on('data', (data: Buffer) => {
    received += data.length;
    if (received > MB) theirs.destroy();
  });
  await closed(theirs);
  t.equal(theirs.destroyed, true);
  t.equal(theirs.transport.destroyed, true, 'the transport went with it');
  await closed(ours);
  clearInterval(pump);
  t.equal(server.connections().length, 0, 'the server forgot the connection');
  t.throws(() => theirs.exportKeyingMaterial(16, 'x'), { code: 'ERR_CTLS_SOCKET_CLOSED' }, 'the TLS state is released');
});

t.test('writes after destroy or end fail with a code', async (t) => {
  const { ours, theirs } = await pair(t);
  theirs.resume();
  ours.destroy();
  const [error] = await new Promise<[Error & { code?: string }]>((resolve) =>
    ours.write('late', (err) => resolve([err as Error])),
  );
  t.equal(error.code, 'ERR_STREAM_DESTROYED');

  const second = await pair(t);
  second.theirs.resume();
  second.ours.on('error', () => {});
  second.ours.end();
  const [afterEnd] = await new Promise<[Error & { code?: string }]>((resolve) =>
    second.ours.write('late', (err) => resolve([err as Error])),
  );
  t.equal(afterEnd.code, 'ERR_STREAM_WRITE_AFTER_END');
});

t.test('a chunk decrypted right after resume() comes after what was buffered while paused', async (t) => {
  // resume() makes the stream flowing at once but empties its buffer a tick later. A record that
  // arrives in between must queue behind the buffer, not go straight to the 'data' listeners.
  const server = createServer(serverOptions);
  t.teardown(() => server.close());
  const [serverEnd, clientEnd] = duplexPair();
  // What the client sends is kept back while `holding`, to be delivered at a chosen moment.
  let holding = false;
  const held: Buffer[] = [];
  const deliver = (chunk: Buffer | null) => Duplex.prototype.push.call(serverEnd, chunk);
  serverEnd.push = (chunk: Buffer | null) => (holding && chunk !== null ? held.push(chunk) > 0 : deliver(chunk));
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  server.emit('connection', serverEnd);
  const ours = connect({
    socket: clientEnd,
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
  });
  t.teardown(() => ours.destroy());
  const [theirs] = await accepted;
  const got: string[] = [];
  theirs.on('data', (chunk: Buffer) => got.push(chunk.toString()));
  // Flowing for a while first, as a reader would be: read() has run, and only then pause().
  ours.write('zero ');
  while (got.length === 0) await sleep(1);
  theirs.pause();
  ours.write('first');
  while (theirs.readableLength === 0) await sleep(1);
  holding = true;
  ours.write('second');
  while (held.length === 0) await sleep(1);
  holding = false;
  theirs.resume();
  for (const chunk of held.splice(0)) deliver(chunk);
  while (got.join('').length < 'zero firstsecond'.length) await sleep(1);
  t.equal(got.join(''), 'zero firstsecond', 'in the order they were written');
});
