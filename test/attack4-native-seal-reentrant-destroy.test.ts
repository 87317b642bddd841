// Attack: the shared Seal step (native/tls_connection.cc) reads the Buffers of a write from a JS array
// with Napi::Array::Get, which runs JavaScript (an index getter, a Proxy trap) after Alive() checked
// the connection and after UseTrustStore(), but before WritePieces calls SSL_write on ssl_. A getter
// that destroys the connection (destroy(), as any close path does) frees ssl_ under the loop, and
// SSL_write(nullptr) kills the process with SIGSEGV instead of an ERR_CTLS_SOCKET_CLOSED. The same
// getter could detach an earlier element's ArrayBuffer, leaving a dangling piece pointer that gets
// encrypted and sent. Both write() and send() take this path.
//
// The fix: in Seal, collect the pieces first (accept only Buffers, reading each element once,
// or refuse arrays that are not plain dense arrays of Buffers) and only then check ssl_ again (Alive)
// before UseTrustStore and WritePieces; or copy the array's elements out with napi_get_element before
// taking any pointer, and re-check ssl_ after the JS-visible part.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

/** Runs in a child: a segfault there must fail this test, not end the runner. */
const script = `
const { native } = require(${JSON.stringify(join(dist, 'tls', 'native.js'))});
const { contextHandle, createSecureContext } = require(${JSON.stringify(join(dist, 'tls', 'context.js'))});
const certs = JSON.parse(process.env.CERTS);
const serverContext = createSecureContext({ key: certs.serverKey, cert: certs.serverChain }, true);
const clientContext = createSecureContext({ ca: certs.ca }, false);
const server = new native.TlsConnection(contextHandle(serverContext), true, { requestCert: false });
const client = new native.TlsConnection(contextHandle(clientContext), false, { servername: 'localhost' });
let toServer = client.cycle()[1];
for (let i = 0; i < 10 && toServer !== null; i++) {
  const toClient = server.cycle(toServer)[1];
  toServer = toClient === null ? null : client.cycle(toClient)[1];
}
if (!client.getInfo().handshakeDone) throw new Error('no handshake');
const list = [Buffer.from('first')];
Object.defineProperty(list, 1, { enumerable: true, get() { client.destroy(); return Buffer.from('second'); } });
try {
  client.write(list);
  console.log('returned');
} catch (error) {
  console.log('threw ' + error.code);
}
`;

t.test('a write whose array destroys the connection while it is read fails with a coded error', async (t) => {
  const child = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, CERTS: JSON.stringify(certs) },
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.equal(child.signal, null, `the process survives (signal ${child.signal ?? 'none'})`);
  t.equal(child.status, 0, 'and exits normally');
  t.match(child.stdout, /^(threw ERR_CTLS_SOCKET_CLOSED|returned)$/m, 'the write is refused or harmless');
});
