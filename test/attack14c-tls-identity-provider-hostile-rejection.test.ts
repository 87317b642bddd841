// Attack: a client's identity provider (connect({ identity: fn })) is the app's own callback; when
// its promise rejects, askIdentity() builds ERR_CTLS_IDENTITY_FAILED with
// `error instanceof Error ? error.message : String(error)`, read outside any guard, inside the
// rejection handler. A rejection value that is a revoked Proxy (instanceof throws), or an object
// whose message getter or toString throws, makes that handler throw: the identity callback is never
// answered, and the handler's own promise rejects with nobody listening, an unhandled rejection,
// which ends the process under node's default (--unhandled-rejections=throw). The connection
// itself then only fails at the identity timeout.
// A correct library reads a rejection value without letting it throw again (as warnOfFailure
// does): that one connection fails at once with ERR_CTLS_IDENTITY_FAILED, the process lives on.
// Attack class: hostile thrown values reaching library bookkeeping (crash / DoS).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

const script = (rejection: string): string => `
const { createServer, connect } = require(${JSON.stringify(join(dist, 'index.js'))});
const certs = JSON.parse(process.env.CERTS);
const server = createServer({
  key: certs.serverKey,
  cert: certs.serverChain,
  ca: certs.ca,
  requestCert: true,
  rejectUnauthorized: false,
});
server.on('tlsClientError', () => {});
server.on('secureConnection', (socket) => socket.on('error', () => {}));
server.listen(0, '127.0.0.1', () => {
  const started = Date.now();
  const client = connect({
    port: server.address().port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    identity: () => Promise.reject(${rejection}),
    identityTimeout: 3000,
  });
  client.on('error', (error) => console.log('client error ' + error.code + ' after ' + (Date.now() - started)));
  client.on('close', () => {
    console.log('client closed');
    server.close();
  });
});
setTimeout(() => { console.log('timeout'); process.exit(3); }, 4500).unref();
`;

for (const [name, rejection] of [
  ['a revoked Proxy', '(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; })()'],
  ['an object whose toString throws', "({ toString() { throw new Error('gotcha'); } })"],
] as const) {
  t.test(`an identity provider rejecting with ${name} fails that connection, not the process`, async (t) => {
    const child = spawnSync(process.execPath, ['-e', script(rejection)], {
      env: { ...process.env, CERTS: JSON.stringify(certs) },
      encoding: 'utf8',
      timeout: 10_000,
    });
    const stderr = child.stderr.split('\n').slice(0, 3).join(' | ');
    t.equal(child.status, 0, `the process lives on (stderr: ${stderr})`);
    t.match(child.stdout, /client error ERR_CTLS_IDENTITY_FAILED/, 'the connection fails with the provider failure');
    t.match(child.stdout, /client closed/, 'the connection is closed');
  });
}
