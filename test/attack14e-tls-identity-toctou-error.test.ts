// Attack: ownedError() keeps an app's thrown value as the destroy reason when it "is an Error that
// reads without throwing", checked by reading `stack` and `message` once. That is a check-then-use:
// an Error whose `stack` getter answers the first read and throws on the next (a lazily formatted
// stack, a Proxy, a hostile getter) passes the check, is handed to the socket's destroy(), and
// node's stream destroy() reads `err.stack` again: the throw escapes from the identity callback
// (a client identity provider whose identity's `key` getter threw that Error) and ends the process.
// A correct library never hands an app's value to node's destroy() on the strength of one read:
// it fails the connection with its own ERR_CTLS_IDENTITY_FAILED (the value as cause, or a copy it
// owns), and the process lives.
// Attack class: hostile thrown values reaching library bookkeeping (crash / DoS).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

const script = `
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
    identity: async () => ({
      get key() {
        const error = new Error('the key store is locked');
        let reads = 0;
        Object.defineProperty(error, 'stack', {
          get() {
            if (reads++ > 0) throw new Error('the stack getter throws on its second read');
            return 'Error: the key store is locked';
          },
        });
        throw error;
      },
      cert: certs.clientChain,
    }),
    identityTimeout: 3000,
  });
  client.on('error', () => console.log('client error'));
  client.on('close', () => {
    console.log('client closed');
    server.close();
  });
});
setTimeout(() => { console.log('timeout'); process.exit(3); }, 4500).unref();
`;

t.test('an Error whose stack getter throws on its second read fails the connection, not the process', async (t) => {
  const child = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, CERTS: JSON.stringify(certs) },
    encoding: 'utf8',
    timeout: 10_000,
  });
  const stderr = child.stderr.split('\n').slice(0, 4).join(' | ');
  t.equal(child.status, 0, `the process lives on (stdout: ${child.stdout.replace(/\n/g, ' ')}; stderr: ${stderr})`);
  t.match(child.stdout, /client closed/, 'the connection is closed');
});
