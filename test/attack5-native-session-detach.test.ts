// Attack: the native TlsConnection constructor (native/tls_connection.cc) takes the pointer of the
// client's `session` Buffer (Napi::Buffer caches Data() when it is made) and only then reads
// options.offerPostHandshakeAuth with Napi::Object::Get, which runs JavaScript (an accessor, a
// Proxy trap). That accessor can detach the session's ArrayBuffer (structuredClone with transfer)
// and let the collector free its memory; ConfigureClient then hands the stale pointer to
// d2i_SSL_SESSION, which reads freed memory (here an unmapped 64 MB region: SIGSEGV). It is the
// class write()/send() were just fixed for (read every JS value first, then take pointers), through
// another entry point that takes JS values and then touches OpenSSL.
//
// The fix: in the constructor read every option (servername, session, offerPostHandshakeAuth,
// askIdentity, rejectUnauthorized, requestCert) into plain values first, and take the session's
// pointer (or better, copy its bytes into a std::vector) only after the last Get; or have the
// TypeScript side pass a frozen plain object of primitives and a copied session Buffer.
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
const session = client.getSession();
if (!Buffer.isBuffer(session)) throw new Error('no session');
// Large enough that the allocator maps it on its own and unmaps it when freed.
const big = Buffer.alloc(1 << 26);
session.copy(big);
const options = { servername: 'localhost', session: big };
Object.defineProperty(options, 'offerPostHandshakeAuth', {
  get() {
    let moved = structuredClone(big.buffer, { transfer: [big.buffer] });
    moved = null;
    gc();
    gc();
    return false;
  },
});
try {
  new native.TlsConnection(contextHandle(clientContext), false, options);
  console.log('returned');
} catch (error) {
  console.log('threw ' + error.code);
}
`;

t.test(
  'an options accessor that frees the session Buffer does not make the constructor read freed memory',
  async (t) => {
    const child = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
      env: { ...process.env, CERTS: JSON.stringify(certs) },
      encoding: 'utf8',
      timeout: 30_000,
    });
    t.equal(child.signal, null, `the process survives (signal ${child.signal ?? 'none'})`);
    t.equal(child.status, 0, `and exits normally (${child.stderr.trim().split('\n').slice(-3).join(' | ')})`);
    t.match(child.stdout, /^(threw ERR_\w+|returned)$/m, 'the connection is refused or made harmlessly');
  },
);
