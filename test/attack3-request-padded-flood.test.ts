// Attack (third outside review): while a certificate request is out, a TLSSocket keeps reading
// past the highWaterMark, since the answer queues behind data in flight, and holds what it reads
// "up to maxHeldBytes" (docs/api.md, the data gate; DataGate#keep). maxHeldBytes counts plaintext,
// but what is held is the Buffers the plaintext sits in: a view of the whole read on both paths
// (see attack3-native-padded-records). A TLS 1.3 client that offered post-handshake auth never
// answers the request (it never reads) and sends one-byte records padded to 16 KiB (RFC 8446
// section 5.4): for the request's whole timeout (5 s by default) the server reads on at wire speed
// and keeps every read's buffer. 16 MiB of plaintext would stand for 256 GiB; the timeout, not
// maxHeldBytes, is the only bound, and at loopback speed it is gigabytes per connection.
//
// Shown: the server requests a certificate at 'secureConnection'; within at most 4 s the memory
// the held plaintext pins passes 2 x maxHeldBytes (the test stops at 256 MiB to spare the machine)
// while the plaintext counted is a few KiB.
//
// Suggested fix: bound held input by the memory it pins, not only its length: copy small
// plaintext out of large buffers before holding it (see attack3-native-padded-records), and/or
// count `chunk.buffer.byteLength` (or the ciphertext read) against maxHeldBytes while a request is
// out.
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createServer, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor, SOON } from './helpers/owned';

const posix = process.platform !== 'win32';
const MB = 1024 * 1024;
const MAX_HELD = 16 * MB;
const STOP_AT = 256 * MB;

for (const native of [true, false]) {
  const path = native ? 'native path' : 'stream path';
  t.test(
    `${path}: an unanswered certificate request bounds held memory, not only held plaintext`,
    { skip: !posix },
    async (t) => {
      const server = createServer({
        key: certs.serverKey,
        cert: certs.serverChain,
        maxVersion: 'TLSv1.3',
        nativeTransport: native,
        maxHeldBytes: MAX_HELD,
      });
      const port = await listen(t, server);
      const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
      const before = process.memoryUsage().arrayBuffers;
      const script = join(__dirname, 'helpers', 'python', 'padded_drip.py');
      const peer = spawn('python3', [script, '--port', String(port), '--pha', '--records', String(1 << 30)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      t.teardown(() => peer.kill('SIGKILL'));
      const [socket] = await accepted;
      socket.on('error', () => {});
      t.equal(socket.nativeTransport, native, `the server is on the ${path}`);
      const request = socket.requestCertificate({ timeout: 5000 }).then(
        () => 'answered',
        (error: Error & { code?: string }) => error.code ?? error.message,
      );
      let peak = 0;
      const until = Date.now() + 4000;
      while (Date.now() < until && peak < STOP_AT && !socket.destroyed) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
      }
      const heldPlaintext = socket.readableLength;
      peer.kill('SIGKILL');
      socket.destroy();
      t.comment(`request: ${await request}`);
      t.ok(
        peak <= 2 * MAX_HELD,
        `memory pinned while the request was out: ${Math.round(peak / MB)} MiB ` +
          `(bound 2 x maxHeldBytes = ${(2 * MAX_HELD) / MB} MiB), ` +
          `plaintext in the readable buffer: ${heldPlaintext} bytes`,
      );
    },
  );
}
