// Attack: ownedError() now passes on "only errors the library constructed", tracked by a WeakSet
// filled in ContinuousTlsError's constructor. But ContinuousTlsError is exported: an app (or a
// hostile dependency) can `new ContinuousTlsError(...)` or subclass it, and the constructor puts
// that object in the "library-made" set. Give it a `stack` getter that answers the first read and
// throws on the next, throw it from a client identity provider (its identity's `key` getter),
// and ownedError() hands the app's object to the socket's destroy(); node's stream destroy()
// reads `err.stack` and the throw escapes mid-destroy (observed: the client socket never emits
// 'error' or 'close', the connection is left hanging for good; with another stack the throw ends
// the process). The 14e fix closed exactly this with a plain Error; the library-made set is
// reachable by any app that constructs or subclasses the exported class.
// A correct library never hands a value the app could have made or altered to node's destroy():
// it fails the connection with its own fresh error (the value as cause) and the process lives.
// Attack class: hostile thrown values reaching library bookkeeping / destroy() (crash / DoS).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

const script = `
const { createServer, connect, createSecureContext, ContinuousTlsError } =
  require(${JSON.stringify(join(dist, 'index.js'))});
const certs = JSON.parse(process.env.CERTS);
class Forged extends ContinuousTlsError {
  constructor() {
    super('ERR_CTLS_INVALID_OPTION', 'looks like the library made it');
    let reads = 0;
    Object.defineProperty(this, 'stack', {
      configurable: true,
      get() {
        if (reads++ > 0) throw new Error('the stack getter throws on its second read');
        return 'ContinuousTlsError: looks like the library made it';
      },
    });
  }
}
const server = createServer({
  key: certs.serverKey,
  cert: certs.serverChain,
  ca: certs.ca,
  requestCert: true,
  rejectUnauthorized: false,
});
server.on('tlsClientError', () => console.log('tlsClientError'));
server.on('secureConnection', (socket) => socket.on('error', () => {}));
server.listen(0, '127.0.0.1', () => {
  const client = connect({
    port: server.address().port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    identity: async () => ({
      get key() { throw new Forged(); },
      cert: certs.clientChain,
    }),
    identityTimeout: 3000,
  });
  client.on('error', () => console.log('client error'));
  client.on('close', () => {
    console.log('client closed');
    setTimeout(() => server.close(), 100);
  });
});
setTimeout(() => { console.log('timeout'); process.exit(3); }, 2500).unref();
`;

t.test('a forged "library" error thrown by an identity provider fails the connection, not the process', async (t) => {
  const child = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, CERTS: JSON.stringify(certs) },
    encoding: 'utf8',
    timeout: 10_000,
  });
  const stderr = child.stderr.split('\n').slice(0, 4).join(' | ');
  t.equal(child.status, 0, `the process lives on (stdout: ${child.stdout.replace(/\n/g, ' ')}; stderr: ${stderr})`);
  t.match(child.stdout, /client closed/, 'the connection is closed');
});
