// Small reads on the native I/O path decrypt into a bare ArrayBuffer that JavaScript wraps in a
// Buffer (TlsConnection::OnTransportRead, kZeroedRoomLimit); larger ones into a Buffer. Either way
// a chunk's ArrayBuffer must show this connection's plaintext and nothing else, and be of the
// order of the chunk's length, since every bound on held plaintext counts chunk.length.
//
// A Python client (CPython's ssl, OpenSSL underneath) sends records one per read: one-byte records
// padded to 2 KiB and 3 KiB, each of which must come out copied into memory of its own size; then
// unpadded records of 100 bytes, 3,000 bytes (rooms that are ArrayBuffers) and 6,000 bytes (rooms
// that are Buffers), each a view of its room whose bytes past the plaintext are zero.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { startServer } from './helpers/mtls';
import { waitFor, SOON } from './helpers/owned';

const posix = process.platform !== 'win32';
const script = join(__dirname, 'helpers', 'python', 'padded_drip.py');

async function chunksFrom(t: Test, pad: number, records: number, size = 1): Promise<Buffer[]> {
  const { server, port } = await startServer(t, {
    key: certs.serverKey,
    cert: certs.serverChain,
    maxVersion: 'TLSv1.3',
    nativeTransport: true,
  });
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const args = [script, '--port', String(port), '--records', String(records), '--pad', String(pad)];
  args.push('--size', String(size), '--gap-ms', '30');
  const peer = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => peer.kill('SIGKILL'));
  const [socket] = await accepted;
  socket.on('error', () => {});
  t.equal(socket.nativeTransport, true, 'the server is on the native path');
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${chunks.length} chunks arrived`)), 20_000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (chunks.reduce((sum, c) => sum + c.length, 0) >= records * size) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  socket.destroy();
  return chunks;
}

/** The bytes of the chunk's whole ArrayBuffer outside the chunk itself. */
function outside(chunk: Buffer): Buffer {
  const whole = Buffer.from(chunk.buffer, 0, chunk.buffer.byteLength);
  return Buffer.concat([whole.subarray(0, chunk.byteOffset), whole.subarray(chunk.byteOffset + chunk.length)]);
}

for (const pad of [2048, 3072]) {
  t.test(`one-byte records padded to ${pad} bytes come in memory of their own size`, { skip: !posix }, async (t) => {
    const chunks = await chunksFrom(t, pad, 6);
    t.equal(Buffer.concat(chunks).toString(), 'xxxxxx', 'the plaintext arrives whole');
    for (const chunk of chunks) {
      t.ok(
        chunk.buffer.byteLength <= 2 * chunk.length,
        `${chunk.length} byte(s) in an ArrayBuffer of ${chunk.buffer.byteLength} bytes`,
      );
    }
  });
}

for (const size of [100, 3000, 6000]) {
  t.test(`unpadded ${size}-byte records: views whose ArrayBuffer shows nothing else`, { skip: !posix }, async (t) => {
    const chunks = await chunksFrom(t, 1, 3, size);
    const all = Buffer.concat(chunks);
    t.equal(all.length, 3 * size, 'the plaintext arrives whole');
    t.ok(
      all.every((byte) => byte === 0x78),
      'and unchanged',
    );
    for (const chunk of chunks) {
      t.ok(chunk.buffer.byteLength <= 2 * chunk.length + 64, `${chunk.length} bytes in ${chunk.buffer.byteLength}`);
      t.ok(
        outside(chunk).every((byte) => byte === 0),
        'nothing but zeroes around the plaintext',
      );
    }
  });
}
