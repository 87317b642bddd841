// Attack: the owned server's #fail (lib/tls/socket.ts) now reads `code` and `verifyError` off
// whatever error fails a connection, to tell a refused certificate, before it destroys the
// socket. Some of those errors are the app's own values passed through untouched: an SNICallback
// that calls back with an error (or throws) hands it straight to #fail. A thrown value whose
// `code` cannot be read (a getter that throws, a revoked Proxy) makes #fail throw before the
// socket is destroyed: from a process.nextTick callback, an uncaught exception that ends the
// whole server, and the connection would be left half-open otherwise.
// A correct library reads a thrown value without letting it throw again (as warnOfFailure does):
// that one connection fails (tlsClientError), the process lives on.
// Attack class: hostile thrown values reaching library bookkeeping (crash / DoS).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

const script = (failure: string): string => `
const tls = require('node:tls');
const { createServer } = require(${JSON.stringify(join(dist, 'index.js'))});
const certs = JSON.parse(process.env.CERTS);
const server = createServer({
  key: certs.serverKey,
  cert: certs.serverChain,
  SNICallback: (name, callback) => callback(${failure}),
});
server.on('tlsClientError', () => console.log('tlsClientError'));
server.listen(0, '127.0.0.1', () => {
  const client = tls.connect({
    port: server.address().port,
    host: '127.0.0.1',
    servername: 'example.test',
    ca: certs.ca,
    rejectUnauthorized: false,
  });
  client.on('error', () => {});
  client.on('close', () => {
    console.log('client closed');
    server.close();
  });
});
setTimeout(() => { console.log('timeout'); process.exit(3); }, 4000).unref();
`;

for (const [name, failure] of [
  [
    'an error whose code getter throws',
    "Object.defineProperty(new Error('no tenant'), 'code', { get() { throw new Error('gotcha'); } })",
  ],
  ['a revoked Proxy', '(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; })()'],
] as const) {
  t.test(`an SNICallback failing with ${name} fails that connection, not the process`, async (t) => {
    const child = spawnSync(process.execPath, ['-e', script(failure)], {
      env: { ...process.env, CERTS: JSON.stringify(certs) },
      encoding: 'utf8',
      timeout: 10_000,
    });
    const stderr = child.stderr.split('\n').slice(0, 3).join(' | ');
    t.equal(child.status, 0, `the server process lives on (stderr: ${stderr})`);
    t.match(child.stdout, /client closed/, 'the connection is closed');
  });
}
