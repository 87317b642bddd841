// Attack: the SNICallback check of lib/tls/sni.ts is `context instanceof SecureContext`, which only
// looks at the prototype chain. An object that inherits SecureContext.prototype without being one
// (Object.create(SecureContext.prototype), a Proxy or subclass instance made without the
// constructor, a wrapper some framework builds around the real context) passes it; its missing
// native handle makes setContext a no-op, the handshake completes with the default identity, and
// then the engine reads trust.trustGeneration on it: "Cannot read private member
// #trustGeneration", thrown from the native I/O callback, an uncaught exception that ends the whole
// server process. It is the crash the fifth review's fix meant to close, one step further.
//
// The fix: check the brand, not the prototype: a static SecureContext.isSecureContext(value)
// using `#trustGeneration in value` (or a module WeakSet filled by the constructor), in
// askSniCallback and wherever a caller's SecureContext is taken (secureContext option, verifyChain
// users, attach({ sni })); anything else fails that connection with ERR_CTLS_INVALID_OPTION.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

/** Runs in a child: an uncaught exception there must fail this test, not end the runner. */
const script = `
const tls = require('node:tls');
const { createServer, createSecureContext } = require(${JSON.stringify(join(dist, 'index.js'))});
const certs = JSON.parse(process.env.CERTS);
const real = createSecureContext({ key: certs.serverKey, cert: certs.serverChain }, true);
const server = createServer({
  key: certs.serverKey,
  cert: certs.serverChain,
  SNICallback: (name, callback) => callback(null, Object.create(Object.getPrototypeOf(real))),
});
server.on('tlsClientError', (error) => console.log('tlsClientError ' + error.code));
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
  client.on('secureConnect', () => client.end());
});
`;

t.test(
  'an SNICallback answering with a look-alike of SecureContext fails that connection, not the process',
  async (t) => {
    const child = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, CERTS: JSON.stringify(certs) },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const lastError =
      child.stderr
        .trim()
        .split('\n')
        .filter((line) => /Error/.test(line))[0] ?? 'none';
    t.equal(child.status, 0, `the server process survives (uncaught: ${lastError})`);
    t.match(child.stdout, /^tlsClientError ERR_CTLS_INVALID_OPTION$/m, 'the connection fails with a coded error');
  },
);
