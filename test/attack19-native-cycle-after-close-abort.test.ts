// Attack: the stream path of the same peer behaviour. Over a transport the addon does not own
// (nativeTransport: false here; any Duplex, a TLS-in-TLS tunnel, Windows), TlsConnection::Cycle
// (native/tls_connection.cc) hands the peer's bytes to Receive(); after the peer's close_notify and
// more than 64 KiB of junk that fails and RecordDataAfterClose() builds an ERR_CTLS_PROTOCOL error,
// giving it its `code` with [[Set]], which runs JavaScript. When the worker's environment stops
// there (an accessor app code left on Object.prototype ends the worker; a terminate() from another
// thread landing at that point does the same), Cycle goes on to `info[2].ToBoolean()`:
// napi_coerce_to_bool fails in a stopping environment, the failure is swallowed
// (NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS) and an empty Napi::Boolean with a null env comes back;
// its conversion to bool calls napi_get_value_bool(nullptr, ...), and node-addon-api aborts the
// whole process:
//   FATAL ERROR: Error::New napi_get_last_error_info
// Same on Node 22 and 24. (The native-transport path fails on the read's room instead: see
// attack19-native-transport-read-room-abort.test.ts.)
//
// The fix: read every argument before anything that can run JavaScript, and never convert or
// dereference the result of a Node-API call that may have failed without checking it.
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
    { key: workerData.key, cert: workerData.cert, nativeTransport: false, allowHalfOpen: true },
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

t.test('a worker that stops while cycle() builds its error does not abort the process', async (t) => {
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
