// Attack (third outside review): on the native I/O path plaintext decrypts into a Buffer the
// addon allocates per read at the size of the ciphertext waiting (TlsConnection::OnTransportRead,
// `Napi::Buffer<char>::New(env, source_.pending())`), and JavaScript receives
// `room.subarray(0, placed)`. Node allocates such Buffers without zero-filling them, and the
// bytes past `placed` are never written: the chunk's ArrayBuffer (`chunk.buffer`) carries
// whatever the heap held there, which includes plaintext freed from other connections. Code
// that reads or transfers `chunk.buffer` (`new Uint8Array(chunk.buffer)`, `Buffer.from(chunk.buffer)`,
// `worker.postMessage(chunk, [chunk.buffer])`) then sees another client's data. node:tls and the
// stream path hand out chunks whose memory holds this connection's bytes only.
//
// Shown: client A sends a marker in bulk while client B sends one-byte writes; B's chunks, as
// received by the server, carry A's marker in their ArrayBuffer.
//
// Suggested fix: hand JavaScript memory that holds this connection's bytes only: copy the placed
// plaintext into a Buffer of its own size (which also fixes the padded-record amplification,
// see attack3-native-padded-records), or zero-fill the room's tail before handing it on.
import t from 'tap';
import { createServer, connect, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor, SOON } from './helpers/owned';

const posix = process.platform !== 'win32';
const MARKER = 'A-SECRET-';
const SECRET = Buffer.from(MARKER.repeat(1000));

t.test("a received chunk's memory holds no other connection's plaintext", { skip: !posix }, async (t) => {
  let views = 0;
  let leaked = 0;
  let nativePath = true;
  const server = createServer({ key: certs.serverKey, cert: certs.serverChain }, (socket) => {
    nativePath &&= socket.nativeTransport;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      // Only B's chunks: A's own carry the marker as their content.
      if (chunk.includes(MARKER)) return;
      views++;
      const whole = Buffer.from(chunk.buffer, 0, chunk.buffer.byteLength);
      if (whole.includes(MARKER)) leaked++;
    });
  });
  const port = await listen(t, server);
  const open = (): TLSSocket => {
    const socket = connect({ host: '127.0.0.1', port, ca: certs.ca, servername: 'localhost' });
    socket.on('error', () => {});
    t.teardown(() => socket.destroy());
    return socket;
  };
  const a = open();
  const b = open();
  await Promise.all([waitFor(a, 'secureConnect', SOON), waitFor(b, 'secureConnect', SOON)]);
  for (let i = 0; i < 600 && leaked === 0; i++) {
    a.write(SECRET);
    for (let j = 0; j < 20; j++) b.write('x');
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(nativePath, true, 'the server is on the native path');
  t.ok(views > 0, `${views} chunks from B were looked at`);
  t.equal(leaked, 0, `chunks from B whose memory holds A's plaintext: ${leaked}`);
});
