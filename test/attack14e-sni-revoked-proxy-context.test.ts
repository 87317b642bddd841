// Attack: an SNICallback that answers with an odd context value: a revoked Proxy (a context
// wrapper the app revoked, a sandboxed object). The contract: anything that is not this library's
// server SecureContext fails that connection with ERR_CTLS_INVALID_OPTION. askSniCallback() builds
// that refusal with invalidOption(..., context), whose describe() calls Array.isArray() on the
// value: on a revoked Proxy that throws, out of the answer function into the app's callback.
// - answered from a later tick (a cache lookup, a fetch): the TypeError is uncaught and ends the
//   server process;
// - answered synchronously: the throw lands in askSniCallback's own catch, which sees the callback
//   as answered and returns: no answer ever comes, and the handshake hangs, held, until the
//   handshake timeout.
// A correct library describes (or does not describe) the value without trusting it, fails that one
// connection at once with ERR_CTLS_INVALID_OPTION, and the process lives on.
// Attack class: hostile values reaching library bookkeeping (crash / DoS), app callback misuse.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

const script = (mode: 'later' | 'now'): string => `
const { createServer, connect } = require(${JSON.stringify(join(dist, 'index.js'))});
const certs = JSON.parse(process.env.CERTS);
const server = createServer({
  key: certs.serverKey,
  cert: certs.serverChain,
  ca: certs.ca,
  requestCert: true,
  rejectUnauthorized: true,
  SNICallback: (_name, cb) => {
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    if (${JSON.stringify(mode)} === 'later') setImmediate(() => cb(null, revocable.proxy));
    else cb(null, revocable.proxy);
  },
});
server.on('tlsClientError', (error) => console.log('tlsClientError ' + (error && error.code)));
server.on('secureConnection', (socket) => {
  console.log('admitted');
  socket.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  const client = connect({
    port: server.address().port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
  });
  client.on('error', () => {});
  client.on('close', () => {
    console.log('client closed');
    server.close();
  });
});
setTimeout(() => { console.log('timeout'); process.exit(3); }, 1500).unref();
`;

for (const mode of ['later', 'now'] as const) {
  t.test(`an SNICallback answering ${mode} with a revoked Proxy fails that connection at once`, async (t) => {
    const child = spawnSync(process.execPath, ['-e', script(mode)], {
      env: { ...process.env, CERTS: JSON.stringify(certs) },
      encoding: 'utf8',
      timeout: 10_000,
    });
    const stderr = child.stderr.split('\n').slice(0, 4).join(' | ');
    const stdout = child.stdout.replace(/\n/g, ' ');
    t.equal(child.status, 0, `the process lives on and the connection ends (stdout: ${stdout}; stderr: ${stderr})`);
    t.match(
      child.stdout,
      /tlsClientError ERR_CTLS_INVALID_OPTION/,
      'the connection fails with ERR_CTLS_INVALID_OPTION',
    );
    t.notMatch(child.stdout, /admitted/, 'the client is not admitted');
  });
}
