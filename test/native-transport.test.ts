// The native I/O path: over a TCP net.Socket on POSIX the addon reads and writes the socket
// itself (native/uv_transport.h). Echo both ways, bulk with backpressure, re-authentication and
// renegotiation against node:tls and openssl, half-close, reset, destroy mid-write, churn
// without leaks, and the stream path kept for other transports and on request.
import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Duplex } from 'node:stream';
import { createServer, connect, type TLSSocket } from '../dist/index.js';
import type { Server, ServerOptions } from '../dist/server.js';
import { kTransportQueue } from '../dist/tls/socket.js';
import type { ConnectOptions } from '../dist/client.js';
import { certs } from './helpers/certs';
import { startServer } from './helpers/mtls';
import { closed, closeServer, listen, waitFor, duplexPair, SOON } from './helpers/owned';

const posix = process.platform !== 'win32';
const serverOptions: ServerOptions = { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true };
const MB = 1024 * 1024;

function client(t: Test, port: number, options: Partial<ConnectOptions> = {}): TLSSocket {
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
  const { server, port } = await startServer(t, { ...serverOptions, ...options });
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const ours = client(t, port, clientOptions);
  const secure = waitFor(ours, 'secureConnect', SOON);
  const [theirs] = await accepted;
  await secure;
  return { server, port, ours, theirs };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads a stream to its end, hashing and counting; `slow` pauses after each chunk. */
function drain(stream: Duplex, slow = false): Promise<{ bytes: number; digest: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
    if (slow && bytes % (4 * MB) < chunk.length) {
      stream.pause();
      setTimeout(() => stream.resume(), 20);
    }
  });
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve({ bytes, digest: hash.digest('hex') }));
    stream.once('error', reject);
  });
}

function firstData(stream: Duplex): Promise<Buffer> {
  return waitFor<[Buffer]>(stream, 'data', SOON).then(([chunk]) => chunk);
}

t.test('both ends take the native path over TCP on POSIX', async (t) => {
  const { ours, theirs } = await pair(t);
  t.equal(ours.nativeTransport, posix);
  t.equal(theirs.nativeTransport, posix);
});

t.test('echo both directions', async (t) => {
  const { ours, theirs } = await pair(t);
  theirs.on('data', (chunk: Buffer) => theirs.write(chunk));
  for (const size of [1, 100, 1024, 16 * 1024 + 1, 200 * 1024]) {
    const message = randomBytes(size);
    const chunks: Buffer[] = [];
    let got = 0;
    const back = new Promise<void>((resolve) => {
      const onData = (chunk: Buffer): void => {
        chunks.push(chunk);
        got += chunk.length;
        if (got >= size) {
          ours.off('data', onData);
          resolve();
        }
      };
      ours.on('data', onData);
    });
    ours.write(message);
    await back;
    t.equal(sha256(Buffer.concat(chunks)), sha256(message), `${size} bytes came back intact`);
  }
});

t.test('the stream path stays for a Duplex transport and on request', async (t) => {
  const server = createServer(serverOptions);
  const [near, far] = duplexPair();
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  server.emit('connection', far);
  const ours = client(t, 0, { socket: near });
  await waitFor(ours, 'secureConnect', SOON);
  const [theirs] = await accepted;
  t.equal(ours.nativeTransport, false, 'client over a Duplex');
  t.equal(theirs.nativeTransport, false, 'server over a Duplex');
  const echoed = firstData(ours);
  theirs.on('data', (chunk: Buffer) => theirs.write(chunk));
  ours.write('over the stream path');
  t.equal((await echoed).toString(), 'over the stream path');
  theirs.destroy();

  const forced = await pair(t, { nativeTransport: false }, { nativeTransport: false });
  t.equal(forced.ours.nativeTransport, false, 'client with nativeTransport: false');
  t.equal(forced.theirs.nativeTransport, false, 'server with nativeTransport: false');
  const back = firstData(forced.ours);
  forced.theirs.on('data', (chunk: Buffer) => forced.theirs.write(chunk));
  forced.ours.write('forced');
  t.equal((await back).toString(), 'forced');

  t.throws(() => createServer({ ...serverOptions, nativeTransport: 'yes' as unknown as boolean }), {
    code: 'ERR_CTLS_INVALID_OPTION',
  });
  t.throws(() => connect({ port: 1, nativeTransport: 1 as unknown as boolean }), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test("the net.Socket's pause() and resume() steer the addon's reads; node never reads it", async (t) => {
  const { ours, theirs } = await pair(t);
  const transport = ours.transport as net.Socket;
  const handle = (transport as net.Socket & { _handle: { reading: boolean } })._handle;
  const received: Buffer[] = [];
  ours.on('data', (chunk: Buffer) => received.push(chunk));
  // A 'readable' listener makes a stream call read(0), which would start node's own reading.
  transport.on('readable', () => {});
  transport.pause();
  t.equal(transport.isPaused(), true);
  const readBefore = transport.bytesRead;
  theirs.write('held in the kernel');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(received.length, 0, 'nothing read while the transport is paused');
  t.equal(transport.bytesRead, readBefore, 'bytesRead counts the addon: nothing');
  transport.resume();
  t.equal(transport.isPaused(), false);
  await waitFor(ours, 'data', SOON);
  t.equal(Buffer.concat(received).toString(), 'held in the kernel', 'read once resumed, through TLS');
  t.ok(transport.bytesRead > readBefore + 'held in the kernel'.length, 'bytesRead counts the record');
  t.equal(handle.reading, false, "node's own handle never reads");
});

t.test('a Unix domain socket takes the stream path on both ends', { skip: !posix }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-native-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'server.sock');
  const server = createServer(serverOptions);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => closeServer(server));
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const ours = client(t, 0, { path });
  await waitFor(ours, 'secureConnect', SOON);
  const [theirs] = await accepted;
  t.equal(ours.nativeTransport, false, 'client over a pipe');
  t.equal(theirs.nativeTransport, false, 'server over a pipe: accepted paused, then resumed');
  const echoed = firstData(ours);
  theirs.on('data', (chunk: Buffer) => theirs.write(chunk));
  ours.write('over a pipe');
  t.equal((await echoed).toString(), 'over a pipe');
});

t.test('16 MB each way with backpressure from slow readers', async (t) => {
  const { ours, theirs } = await pair(t, { allowHalfOpen: true }, { allowHalfOpen: true });
  const upload = randomBytes(16 * MB);
  const download = randomBytes(16 * MB);
  let uploadWritten = false;
  let downloadWritten = false;
  ours.end(upload, () => (uploadWritten = true));
  theirs.end(download, () => (downloadWritten = true));
  // Nobody reads yet: what is not read stays in the kernel, not in ever-growing buffers.
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.notOk(uploadWritten, 'the client write feels the backpressure');
  t.notOk(downloadWritten, 'the server write feels the backpressure');
  t.ok(theirs.readableLength < MB && ours.readableLength < MB, 'plaintext buffered on the paused sides is bounded');
  const [received, returned] = await Promise.all([drain(theirs, true), drain(ours, true)]);
  t.equal(received.bytes, upload.length, 'all uploaded bytes');
  t.equal(received.digest, sha256(upload), 'uploaded bytes intact and in order');
  t.equal(returned.bytes, download.length, 'all downloaded bytes');
  t.equal(returned.digest, sha256(download), 'downloaded bytes intact and in order');
  t.ok(uploadWritten && downloadWritten, 'both writes completed');
});

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: a fresh certificate on the native path, our client and node:tls`, async (t) => {
    const { ours, theirs } = await pair(t, { maxVersion: version, minVersion: version }, { maxVersion: version });
    t.equal(theirs.nativeTransport, posix);
    theirs.on('data', (chunk: Buffer) => theirs.write(chunk));
    const result = await theirs.requestCertificate({ timeout: SOON });
    t.equal(result.verified, true, 'our client answered the request');
    const echoed = firstData(ours);
    ours.write('after the request');
    t.equal((await echoed).toString(), 'after the request', 'data flows after it');
  });
}

t.test('TLSv1.2: node:tls renegotiates with our native server', async (t) => {
  const { server, port } = await startServer(t, { ...serverOptions, maxVersion: 'TLSv1.2' });
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const peer = tls.connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    maxVersion: 'TLSv1.2',
  });
  t.teardown(() => peer.destroy());
  const [theirs] = await accepted;
  t.equal(theirs.nativeTransport, posix);
  theirs.on('data', (chunk: Buffer) => theirs.write(chunk));
  const result = await theirs.requestCertificate({ timeout: SOON });
  t.equal(result.verified, true, 'node:tls answered the HelloRequest with its certificate');
  const echoed = firstData(peer);
  peer.write('renegotiated');
  t.equal((await echoed).toString(), 'renegotiated');
});

t.test('half-close with allowHalfOpen: the server reads end and still answers', async (t) => {
  const { ours, theirs } = await pair(t, { allowHalfOpen: true }, { allowHalfOpen: true });
  const request: Buffer[] = [];
  theirs.on('data', (chunk: Buffer) => request.push(chunk));
  const serverEnded = waitFor(theirs, 'end', SOON);
  ours.end('question');
  await serverEnded;
  t.equal(Buffer.concat(request).toString(), 'question', 'the request, then end');
  t.equal(theirs.writable, true, 'the server can still write');
  const answer = drain(ours);
  theirs.end('answer');
  t.equal((await answer).bytes, 'answer'.length, 'the client got the answer, then end');
  await Promise.all([closed(theirs), closed(ours)]);
  t.equal(theirs.transport.destroyed, true, 'the transport closed with the socket');
});

t.test('a peer that resets mid-stream: a coded error, no crash', async (t) => {
  const { server, port } = await startServer(t, serverOptions);
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const raw = net.connect(port, '127.0.0.1');
  const peer = tls.connect({
    socket: raw,
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
  });
  t.teardown(() => raw.destroy());
  peer.on('error', () => {});
  const [theirs] = await accepted;
  t.equal(theirs.nativeTransport, posix);
  const failed = waitFor<[NodeJS.ErrnoException]>(theirs, 'error', SOON);
  // The server keeps writing; the peer leaves with a RST (SO_LINGER 0) without reading.
  const pump = setInterval(() => theirs.write(randomBytes(64 * 1024)), 2);
  t.teardown(() => clearInterval(pump));
  await new Promise((resolve) => setTimeout(resolve, 50));
  raw.resetAndDestroy();
  const [error] = await failed;
  clearInterval(pump);
  t.match(error.code, /^(ECONNRESET|EPIPE)$/, `the socket failed with ${error.code}`);
  t.match(error.syscall, /^(read|write)$/);
  await closed(theirs);
  t.equal(theirs.destroyed, true);
});

t.test('destroy during a write releases the queue and both ends close', async (t) => {
  const { ours, theirs } = await pair(t);
  theirs.on('error', () => {});
  ours.on('error', () => {});
  theirs.resume();
  // More than the kernel takes at once: the rest waits in the addon's write queue.
  ours.write(randomBytes(16 * MB));
  ours.destroy();
  await Promise.all([closed(ours), closed(theirs)]);
  t.equal(ours.transport.destroyed, true);
  t.throws(() => ours.exportKeyingMaterial(16, 'x'), { code: 'ERR_CTLS_SOCKET_CLOSED' });
});

t.test('setTimeout sees the native path as activity', async (t) => {
  const { ours, theirs } = await pair(t);
  let timedOut = false;
  theirs.setTimeout(300, () => (timedOut = true));
  theirs.on('data', () => {});
  for (let i = 0; i < 8; i++) {
    ours.write('tick');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.equal(timedOut, false, 'no timeout while data arrives');
  await waitFor(theirs, 'timeout', SOON);
  t.pass('timeout once idle');
});

function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

t.test(
  '500 connections churned: no descriptor leak, bounded memory',
  { skip: !existsSync('/proc/self/fd') },
  async (t) => {
    const server = createServer(serverOptions, (socket) => socket.pipe(socket));
    const port = await listen(t, server);
    const churn = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i += 10) {
        await Promise.all(
          Array.from({ length: 10 }, async () => {
            const socket = client(t, port);
            await waitFor(socket, 'secureConnect', SOON);
            const echoed = firstData(socket);
            socket.write('ping');
            await echoed;
            socket.end();
            await closed(socket);
          }),
        );
      }
    };
    await churn(50);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const fdsBefore = openDescriptors();
    const rssBefore = process.memoryUsage().rss;
    await churn(500);
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.equal(server.connections().length, 0, 'the server forgot every connection');
    t.ok(openDescriptors() <= fdsBefore + 2, `descriptors: ${fdsBefore} before, ${openDescriptors()} after`);
    const growth = process.memoryUsage().rss - rssBefore;
    t.ok(growth < 64 * MB, `RSS grew by ${Math.round(growth / MB)} MB`);
  },
);

t.test('a worker that exits with native connections open ends cleanly', async (t) => {
  // The worker closes its handles on its way out while JavaScript can no longer run there.
  const source = `
    const { createServer, connect } = require(${JSON.stringify(join(__dirname, '..', 'dist', 'index.js'))});
    const { workerData: pem } = require('node:worker_threads');
    const server = createServer({ key: pem.key, cert: pem.cert }, (socket) => socket.write('x'));
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      const client = connect({ host: '127.0.0.1', port, ca: pem.ca, servername: 'localhost' });
      client.on('data', () => {
        client.write(Buffer.alloc(4 * 1024 * 1024));
        process.exit(client.nativeTransport ? 7 : 8);
      });
    });
  `;
  for (let i = 0; i < 3; i++) {
    const worker = new Worker(source, {
      eval: true,
      workerData: { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca },
    });
    const [code] = await waitFor<[number]>(worker, 'exit', SOON);
    t.equal(code, posix ? 7 : 8, 'the worker exited as it asked, on the native path');
  }
});

t.test('a KeyUpdate flood from a peer that never reads stops the native reads', async (t) => {
  // Every KeyUpdate with update_requested makes OpenSSL answer (RFC 8446 section 4.6.3); the peer
  // never reads the answers. The addon stops reading once they pass the high-water mark, so the
  // peer's sends block when the kernel buffers are full: its count of sent KeyUpdates stops growing.
  const { server, port } = await startServer(t, {
    key: certs.serverKey,
    cert: certs.serverChain,
    maxVersion: 'TLSv1.3',
  });
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const script = join(__dirname, 'helpers', 'python', 'keyupdate_flood.py');
  const peer = spawn('python3', [script, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => peer.kill('SIGKILL'));
  let sent = 0;
  peer.stdout.on('data', (chunk: Buffer) => {
    for (const match of chunk.toString().matchAll(/SENT:(\d+)/g)) sent = Number(match[1]);
  });
  const [socket] = await accepted;
  socket.on('error', () => {});
  t.equal(socket.nativeTransport, posix);
  const deadline = Date.now() + 45_000;
  while (sent === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  let last = -1;
  let steadySince = Date.now();
  let peak = 0;
  while (Date.now() < deadline && Date.now() - steadySince < 1500) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    peak = Math.max(peak, socket[kTransportQueue]);
    if (sent !== last) {
      last = sent;
      steadySince = Date.now();
    }
  }
  t.ok(Date.now() - steadySince >= 1500, `the peer is blocked after ${sent} KeyUpdates`);
  // The high-water mark (64 KiB), plus the answers to the read that passed it.
  const bound = 64 * 1024 + 256 * 1024;
  t.ok(peak <= bound, `the write queue peaked at ${Math.round(peak / 1024)} KiB (bound ${bound / 1024} KiB)`);
  t.equal(socket.destroyed, false, 'the connection is held, not failed');
});
