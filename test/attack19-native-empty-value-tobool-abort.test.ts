// Attack: NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS lets native code go on after a Node-API call that
// failed because the environment is stopping. But a failed Object::Get() returns Napi::Value(), an
// empty value whose env is null, and the TlsConnection constructor (native/tls_connection.cc) calls
// a method straight on it: options.Get("askIdentity").ToBoolean() (likewise rejectUnauthorized,
// requestCert, offerPostHandshakeAuth; SecureContext::SetTrust's flags.Get(...).ToBoolean()).
// napi_coerce_to_bool(nullptr, ...) fails, node-addon-api builds the error with Error::New(nullptr),
// napi_get_last_error_info(nullptr) fails too, and that is
//   FATAL ERROR: Error::New napi_get_last_error_info
// an abort of the whole process (main thread, every worker and connection) from a worker that was
// merely ending. The swallow the last fix relies on never gets its chance.
//
// Deterministic here: connect() without an identity provider leaves `askIdentity` off the options
// object, so the constructor's Get runs an accessor app code left on Object.prototype; it ends the
// worker with process.exit(), which is also what a worker.terminate() from another thread does when
// it lands during any of these Gets. Same on Node 22 and 24.
//
// The fix: never call a method on the result of a napi call that may have failed (check IsEmpty()
// first, or use the napi_* C calls with their status), and read options as own data properties.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

const script = `
const { Worker, isMainThread, workerData } = require('node:worker_threads');
if (isMainThread) {
  const worker = new Worker(process.argv[1], { argv: [], workerData: process.env.CA });
  worker.on('exit', (code) => process.stdout.write('survived, worker exit ' + code));
} else {
  const { connect } = require(${JSON.stringify(join(dist, 'index.js'))});
  Object.defineProperty(Object.prototype, 'askIdentity', {
    configurable: true,
    get() { process.exit(7); },
  });
  const socket = connect({ host: '127.0.0.1', port: 9, ca: workerData, servername: 'localhost' });
  socket.on('error', () => {});
}
`;

t.test('a worker that ends while the connection constructor reads its options does not abort', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-attack19-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'worker.js');
  writeFileSync(file, script);
  const child = spawnSync(process.execPath, [file], {
    env: { ...process.env, CA: certs.ca },
    encoding: 'utf8',
    timeout: 20_000,
  });
  t.equal(child.signal, null, `no signal (got ${child.signal ?? 'none'})`);
  t.notMatch(child.stderr, /FATAL ERROR/, 'no fatal error from node-addon-api');
  t.equal(child.stdout, 'survived, worker exit 7', 'the main thread outlives the worker');
});

// The same pattern in SecureContext::SetTrust: flags.Get("crlCheckAll").ToBoolean(). The library
// passes own data properties there, so only a terminate() landing in the Get reaches it in
// practice; an accessor on the flags object makes the point deterministic.
const trustScript = `
const { Worker, isMainThread, workerData } = require('node:worker_threads');
if (isMainThread) {
  const worker = new Worker(process.argv[1], { argv: [], workerData: process.env.CA });
  worker.on('exit', (code) => process.stdout.write('survived, worker exit ' + code));
} else {
  const { createSecureContext, contextHandle } = require(${JSON.stringify(join(dist, 'tls', 'context.js'))});
  const handle = contextHandle(createSecureContext({ ca: workerData }, true));
  handle.setTrust(Buffer.from(workerData), undefined, { get crlCheckAll() { process.exit(7); }, allowStaleCrl: false });
}
`;

t.test('a worker that ends while setTrust reads its flags does not abort the process', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-attack19-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'worker.js');
  writeFileSync(file, trustScript);
  const child = spawnSync(process.execPath, [file], {
    env: { ...process.env, CA: certs.ca },
    encoding: 'utf8',
    timeout: 20_000,
  });
  t.equal(child.signal, null, `no signal (got ${child.signal ?? 'none'})`);
  t.notMatch(child.stderr, /FATAL ERROR/, 'no fatal error from node-addon-api');
  t.equal(child.stdout, 'survived, worker exit 7', 'the main thread outlives the worker');
});
