// Attack: TlsConnection::OnTransportRead (native/tls_connection_transport.cc) checks once, at its
// top, that JavaScript can run (CanCallJs), then runs JavaScript itself before it allocates the
// read's room: a peer that goes on sending after its close_notify makes Receive() fail, and
// RecordDataAfterClose() builds an ERR_CTLS_PROTOCOL error whose `code` is given with [[Set]]. If
// the worker's environment stops there (an accessor that app code left on Object.prototype ends the
// worker; a worker.terminate() from another thread landing at that point does the same), the
// next call, Napi::ArrayBuffer::New(env, source_.pending()), fails. With
// NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS the failure is dropped and an empty ArrayBuffer with a
// null env comes back; small_room.Data() then calls napi_get_arraybuffer_info(nullptr, ...), and
// node-addon-api's error path aborts the whole process:
//   FATAL ERROR: Error::New napi_get_last_error_info
// b34ca7a guarded OwnPlaintext's ArrayBuffer but not this one (ArrayBuffer::Data() and
// ByteLength() are Node-API calls, not cached fields as a Buffer's are). Same on Node 22 and 24.
//
// Here: a server in a worker (native transport, allowHalfOpen), a node:tls client in the main
// thread that sends close_notify without a FIN and then 256 KiB of junk, and a `code` setter that
// exits the worker when the addon names that protocol error.
//
// The fix: check IsEmpty() (or CanCallJs() again) after every allocation before touching it, and
// read an ArrayBuffer's pointer and length with the C call whose status can be checked.
// Fixed: the error's code is now defined (native/js_values.h), so no app code runs in that window;
// the test holds that, and the allocation is checked for the terminate() race that remains.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

const script = `
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');
if (isMainThread) {
  const net = require('node:net');
  const tls = require('node:tls');
  const { Duplex } = require('node:stream');
  const worker = new Worker(process.argv[1], { argv: [], workerData: JSON.parse(process.env.PEM) });
  const timer = setTimeout(() => { process.stdout.write('no exit; '); void worker.terminate(); }, 8000);
  worker.on('exit', (code) => {
    clearTimeout(timer);
    process.stdout.write('survived, worker exit ' + code);
    process.exit(0);
  });
  worker.on('message', (message) => {
    if (typeof message === 'object') {
      process.stdout.write('socket error ' + message.code + '; ');
      void worker.terminate();
      return;
    }
    const port = message;
    const raw = net.connect(port, '127.0.0.1', () => {
      // The client's close_notify goes out, its FIN does not: the server keeps reading.
      const duplex = new Duplex({
        read() { raw.resume(); },
        write(chunk, _encoding, callback) { raw.write(chunk, callback); },
        final(callback) { callback(); },
      });
      raw.on('data', (chunk) => { if (!duplex.push(chunk)) raw.pause(); });
      raw.on('error', () => {});
      const client = tls.connect({ socket: duplex, servername: 'localhost', rejectUnauthorized: false });
      client.on('error', () => {});
      client.on('secureConnect', () => {
        client.end();
        setTimeout(() => { for (let i = 0; i < 4; i++) raw.write(Buffer.alloc(64 * 1024, 0x17)); }, 100);
      });
    });
  });
} else {
  const { createServer } = require(${JSON.stringify(join(dist, 'index.js'))});
  const server = createServer(
    { key: workerData.key, cert: workerData.cert, nativeTransport: true, allowHalfOpen: true },
    (socket) => {
      socket.on('error', (error) => parentPort.postMessage({ code: error.code }));
      socket.resume();
      Object.defineProperty(Object.prototype, 'code', {
        configurable: true,
        set(value) {
          if (value === 'ERR_CTLS_PROTOCOL' && /close_notify/.test(this.message)) process.exit(7);
          Object.defineProperty(this, 'code', { value, writable: true, configurable: true, enumerable: true });
        },
      });
    },
  );
  server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
}
`;

t.test('a worker that stops while a native read builds its error does not abort the process', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-attack19-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'worker.js');
  writeFileSync(file, script);
  const child = spawnSync(process.execPath, [file], {
    env: { ...process.env, PEM: JSON.stringify({ key: certs.serverKey, cert: certs.serverChain }) },
    encoding: 'utf8',
    timeout: 20_000,
  });
  t.equal(child.signal, null, `no signal (got ${child.signal ?? 'none'})`);
  t.notMatch(child.stderr, /FATAL ERROR/, 'no fatal error from node-addon-api');
  // The addon defines its error's code, so the setter never runs for it: the socket fails with the
  // protocol error, and the worker ends when the main thread terminates it.
  t.equal(
    child.stdout,
    'socket error ERR_CTLS_PROTOCOL; survived, worker exit 1',
    "the peer's bytes after close_notify fail the socket, with no app code run and no abort",
  );
});
