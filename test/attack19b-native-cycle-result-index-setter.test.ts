// Attack: cycle()'s result is built as Napi::Array::New(env, 6) and filled with Napi::Array::Set
// (native/tls_connection.cc, TlsConnection::Result and Cycle): a holey array filled with [[Set]], so
// an accessor on Array.prototype at an index (app code: an observer that takes the value and defines
// nothing) takes the write and the library reads the accessor's value instead of the addon's.
// lib/tls/socket.ts #cycle() reads `placed` (index 4) and, when it is not 0, delivers
// `own ?? chunk.subarray(0, placed)`: with `placed` read as undefined it delivers the WHOLE chunk it
// decrypted in place — the plaintext plus the rest of the record's raw bytes from the wire (the
// AEAD tag, further records) — as application data; with placed === 0 in truth (a partial record, a
// post-handshake message) the whole chunk of unauthenticated network bytes. The same holds for
// write()/send()'s results (consumed, error) and getPeerChain()'s array (Array::New + Set(index)).
//
// The fix: build result arrays whose elements are defined, not assigned (napi_define_properties, or
// napi_create_array_with_length + define), or have lib read them as own data properties.
// Fixed: the addon now defines every element and property it returns (native/js_values.h).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

const script = `
const tls = require('node:tls');
const { createServer } = require(${JSON.stringify(join(dist, 'index.js'))});
const pem = JSON.parse(process.env.PEM);
const sent = Buffer.alloc(16 * 1024, 0x61);
const received = [];
let seen = 0;
const finish = () => {
  delete Array.prototype[4];
  const data = Buffer.concat(received);
  const extra = data.length - sent.length;
  const prefixOk = data.subarray(0, sent.length).equals(sent);
  process.stdout.write(JSON.stringify({ seen, length: data.length, prefixOk, extra }));
  process.exit(0);
};
const server = createServer({ key: pem.key, cert: pem.cert, nativeTransport: false }, (socket) => {
  socket.on('error', () => {});
  socket.on('data', (chunk) => {
    received.push(Buffer.from(chunk));
    if (Buffer.concat(received).length >= sent.length) setImmediate(finish);
  });
});
server.listen(0, '127.0.0.1', () => {
  const client = tls.connect({ host: '127.0.0.1', port: server.address().port, servername: 'localhost', ca: pem.ca });
  client.on('error', () => {});
  client.on('secureConnect', () => setTimeout(() => {
    // (Timers are set before the accessor exists: node's timer heap is an array too.)
    setTimeout(finish, 3000);
    Object.defineProperty(Array.prototype, '4', { configurable: true, set() { seen++; } });
    // One full record: its plaintext fills most of the chunk, so no copy is made (own is null)
    // and the library takes the first \`placed\` bytes of the chunk itself.
    client.write(sent);
  }, 200));
});
`;

t.test('an Array.prototype index accessor does not make cycle() deliver raw record bytes as data', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-attack19b-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'run.js');
  writeFileSync(file, script);
  const child = spawnSync(process.execPath, [file], {
    env: { ...process.env, PEM: JSON.stringify({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca }) },
    encoding: 'utf8',
    timeout: 15_000,
  });
  t.equal(child.signal, null, 'no signal');
  const report = JSON.parse(child.stdout || '{}') as { seen: number; length: number; prefixOk: boolean; extra: number };
  t.equal(report.seen, 0, "the addon defines cycle()'s elements: the accessor never took one");
  t.ok(report.prefixOk, 'the plaintext arrives');
  t.equal(report.extra, 0, `no raw record bytes follow the plaintext (got ${report.extra} extra bytes)`);
});
