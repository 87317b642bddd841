// Attack: a client's identity provider (connect({ identity: fn })) is the app's own callback. The
// last fix guards what a *rejection* says (describeThrown), but an identity object the provider
// resolves with is read later, in presentIdentity(), and whatever its `key`/`cert` getter throws is
// passed as-is to the socket's #fail(), which hands it to destroy(error) when an 'error' listener
// is on. node's stream destroy() reads `err.stack` of what it is given: a revoked Proxy (or an
// object whose stack getter throws) makes destroy() throw out of the identity callback, inside a
// promise handler: an unhandled rejection ends the process under node's default.
// A correct library never hands an app's thrown value to node as the destroy reason: it fails the
// connection with its own ERR_CTLS_IDENTITY_FAILED (the thrown value as cause), the process lives.
// Attack class: hostile thrown values reaching library bookkeeping (crash / DoS).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

const script = (thrown: string): string => `
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
  const client = connect({
    port: server.address().port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    identity: async () => ({ get key() { throw ${thrown}; }, cert: certs.clientChain }),
    identityTimeout: 3000,
  });
  client.on('error', (error) => console.log('client error'));
  client.on('close', () => {
    console.log('client closed');
    server.close();
  });
});
setTimeout(() => { console.log('timeout'); process.exit(3); }, 4500).unref();
`;

for (const [name, thrown] of [
  ['a revoked Proxy', '(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; })()'],
  ['an object whose stack getter throws', "({ get stack() { throw new Error('gotcha'); } })"],
] as const) {
  t.test(`an identity whose key getter throws ${name} fails that connection, not the process`, async (t) => {
    const child = spawnSync(process.execPath, ['-e', script(thrown)], {
      env: { ...process.env, CERTS: JSON.stringify(certs) },
      encoding: 'utf8',
      timeout: 10_000,
    });
    const stderr = child.stderr.split('\n').slice(0, 4).join(' | ');
    t.equal(child.status, 0, `the process lives on (stdout: ${child.stdout.replace(/\n/g, ' ')}; stderr: ${stderr})`);
    t.match(child.stdout, /client closed/, 'the connection is closed');
  });
}
