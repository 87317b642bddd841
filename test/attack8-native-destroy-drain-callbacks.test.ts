// Attack (eighth outside review): a write that finds the queue past its high-water mark (on the
// native path send() answers `false`, or `flowing` false in its array; on the stream path the
// net.Socket's write() answers false) waits for a drain: NativeIO#drainWaiters, or the net.Socket's
// 'drain' event. When the TLS socket is destroyed meanwhile (by the app, by a peer's TCP reset, by a
// denial), NativeIO#destroy() empties its list without calling anyone, and a destroyed net.Socket
// never emits 'drain': the write's callback is never called. node's Writable then never learns the
// write ended: with a write in flight (state.writing) its errorBuffer() skips every buffered write
// as well, so none of their callbacks run either. Code that awaits a write's callback (a promisified
// write, a protocol that frees or retries per write) hangs for ever and keeps its chunks alive.
// node:tls calls every callback once its socket is destroyed.
//
// Shown: a node:tls client that stops reading; the server writes 256 x 64 KiB with a callback each,
// waits until its writes back up, then the connection is destroyed (server side, or a TCP reset by
// the client). node:tls calls all 256 callbacks (the control rows, which pass); both paths of the
// owned tier call only those that completed before the destroy and never the rest.
//
// Suggested fix: TLSSocket#writeChunks keeps the callback it left waiting for a drain, and
// TLSSocket#_destroy calls it with an error (ERR_CTLS_SOCKET_CLOSED, or the destroy's error);
// NativeIO#destroy() should call or reject its drain waiters rather than drop them. Writable then
// errors the buffered writes itself.
import t, { type Test } from 'tap';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createServer, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor, SOON } from './helpers/owned';

const posix = process.platform !== 'win32';
const WRITES = 256;

type Kind = 'node:tls' | 'owned stream path' | 'owned native path';

interface Outcome {
  called: number;
  /** Callbacks that ran before the destroy. */
  before: number;
  /** The errors the other callbacks got (null: reported as written). */
  errors: Array<(Error & { code?: string }) | null>;
}

async function callbacksAfterDestroy(t: Test, kind: Kind, how: 'destroy' | 'reset'): Promise<Outcome> {
  let serverSide: tls.TLSSocket | TLSSocket | null = null;
  const onSocket = (socket: tls.TLSSocket | TLSSocket): void => {
    serverSide = socket;
    socket.on('error', () => {});
  };
  const options = { key: certs.serverKey, cert: certs.serverChain };
  const server =
    kind === 'node:tls'
      ? tls.createServer(options, onSocket)
      : createServer({ ...options, nativeTransport: kind === 'owned native path' }, onSocket);
  const port = await listen(t, server as never);
  const raw = net.connect(port, '127.0.0.1');
  const client = tls.connect({ socket: raw, ca: certs.ca, servername: 'localhost' });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect', SOON);
  client.pause();
  const deadline = Date.now() + SOON;
  while (serverSide === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const socket = serverSide as unknown as tls.TLSSocket;
  t.ok(socket, 'the server has its side of the connection');
  if (kind !== 'node:tls') {
    t.equal((socket as unknown as TLSSocket).nativeTransport, kind === 'owned native path', kind);
  }
  let called = 0;
  let destroyed = false;
  const errors: Outcome['errors'] = [];
  for (let i = 0; i < WRITES; i++) {
    socket.write(Buffer.alloc(64 * 1024, 0x61), (error?: Error | null) => {
      called++;
      if (destroyed) errors.push(error ?? null);
    });
  }
  // Long enough for the kernel's buffers to fill and the writes to back up.
  await new Promise((r) => setTimeout(r, 300));
  t.ok(called < WRITES, `the writes backed up (${called} of ${WRITES} done)`);
  const before = called;
  destroyed = true;
  if (how === 'destroy') socket.destroy();
  else raw.resetAndDestroy();
  const settle = Date.now() + 2000;
  while (called < WRITES && Date.now() < settle) await new Promise((r) => setTimeout(r, 20));
  t.ok(socket.destroyed, 'the server side is destroyed');
  return { called, before, errors };
}

for (const how of ['destroy', 'reset'] as const) {
  const what = how === 'destroy' ? 'the server destroys its socket' : 'the client resets the TCP connection';
  for (const kind of ['node:tls', 'owned stream path', 'owned native path'] as const) {
    t.test(`${kind}: ${what} while writes wait for drain`, { skip: !posix }, async (t) => {
      const { called, before, errors } = await callbacksAfterDestroy(t, kind, how);
      t.equal(called, WRITES, 'every write callback is called once the socket is destroyed');
      if (kind !== 'node:tls') {
        // None of them was written: each is told so, with a coded error.
        t.equal(errors.length, WRITES - before);
        t.ok(
          errors.every((error) => typeof error?.code === 'string'),
          `the writes cut short fail with coded errors (${[...new Set(errors.map((e) => e?.code))].join(', ')})`,
        );
      }
    });
  }
}
