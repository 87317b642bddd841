// Attack (third outside review): plaintext decrypts in place into a Buffer as large as the
// ciphertext it came in, and the reader gets a view of it. On the native I/O path each socket read
// decrypts into a fresh Buffer of `source_.pending()` bytes (TlsConnection::OnTransportRead) and
// JavaScript receives `room.subarray(0, placed)`; the stream path decrypts into the transport's
// chunk (cycle with inPlace). Either view keeps the whole allocation alive, while every bound on
// inbound plaintext counts `chunk.length`: the readable highWaterMark, the data gate's
// maxHeldBytes and its pause at the highWaterMark. A TLS 1.3 peer pads each one-byte record to
// 16 KiB (RFC 8446 section 5.4): a 64 KiB read then yields ~4 bytes of plaintext pinning 64 KiB.
// A reader that is slow, or a data gate waiting on the policy, lets 16 KiB of plaintext (the
// highWaterMark) stand for ~256 MiB of memory per connection.
//
// Shown, on both paths: a peer sends 6144 padded one-byte records to a server whose app does not
// read yet; the server holds about 96 MiB of ArrayBuffers for 6 KiB of plaintext, freed only when
// the reader takes it.
//
// Suggested fix: when `placed` is small next to the buffer it sits in (say under half), copy the
// plaintext out into a Buffer of its own size before handing it on (or decrypt into a scratch
// buffer and copy), so that the memory held tracks the plaintext the bounds count.
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { startServer } from './helpers/mtls';
import { waitFor, SOON } from './helpers/owned';

const posix = process.platform !== 'win32';
const MB = 1024 * 1024;
const RECORDS = 6144;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function arrayBuffers(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
}

for (const native of [false, true]) {
  const path = native ? 'native path' : 'stream path';
  t.test(
    `${path}: padded one-byte records do not pin 16 KiB each on a reader that waits`,
    { skip: !posix },
    async (t) => {
      const { server, port } = await startServer(t, {
        key: certs.serverKey,
        cert: certs.serverChain,
        maxVersion: 'TLSv1.3',
        nativeTransport: native,
      });
      const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
      const script = join(__dirname, 'helpers', 'python', 'padded_drip.py');
      const peer = spawn('python3', [script, '--port', String(port), '--records', String(RECORDS)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      t.teardown(() => peer.kill('SIGKILL'));
      let sent = 0;
      let done = false;
      peer.stdout.on('data', (chunk: Buffer) => {
        const text = chunk.toString();
        for (const match of text.matchAll(/SENT:(\d+)/g)) sent = Number(match[1]);
        if (/DONE|CLOSED|FAILED/.test(text)) done = true;
      });
      const [socket] = await accepted;
      socket.on('error', () => {});
      t.equal(socket.nativeTransport, native, `the server is on the ${path}`);
      // The app reads later (a slow consumer, or one waiting on its own work): nothing reads now.
      const deadline = Date.now() + 40_000;
      let last = -1;
      let steadySince = Date.now();
      while (!done && Date.now() < deadline && Date.now() - steadySince < 1500) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        if (sent !== last) {
          last = sent;
          steadySince = Date.now();
        }
      }
      // Let the last reads land.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const plaintext = socket.readableLength;
      const during = arrayBuffers();
      // What the plaintext held is what reading it frees.
      let read = 0;
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        read += chunk.length;
      }
      const held = during - arrayBuffers();
      t.equal(read, plaintext, 'the reader then takes the plaintext');
      t.ok(plaintext <= RECORDS, `the server holds ${plaintext} bytes of plaintext (peer sent ${sent} records)`);
      // Generous: the highWaterMark's worth twice over, plus slack for the test's own buffers.
      t.ok(held < 8 * MB, `memory held for it: ${Math.round(held / MB)} MiB of ArrayBuffers (bound 8 MiB)`);
    },
  );
}
