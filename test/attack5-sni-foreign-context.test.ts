// Attack: the owned server takes whatever an SNICallback answers as the connection's context
// (lib/tls/socket.ts #onClientHello: `this.#context = context`, lib/tls/sni.ts checks nothing). An
// answer that is not a continuous-tls SecureContext (node's own tls.createSecureContext() result,
// as code ported from node:tls returns, or any object) is not switched to natively (the handshake
// goes on with the default identity), but becomes the trust the engine watches and verifies with:
// at the end of the handshake Authorizer#watch calls trust.onTrustChange on it and throws a
// TypeError from a native callback, an uncaught exception that ends the whole process. Every client
// that sends that server name takes the server down.
//
// The fix: in askSniCallback (or #onClientHello) accept only a SecureContext of this library
// (instanceof SecureContext, created for a server) or undefined; anything else fails that
// connection with a coded error (ERR_CTLS_INVALID_OPTION, "SNICallback answered ...") through
// tlsClientError, as an error answer does, and never reaches the native handle or the engine.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

/** Runs in a child: an uncaught exception there must fail this test, not end the runner. */
const script = (answer: string): string => `
const tls = require('node:tls');
const { createServer } = require(${JSON.stringify(join(dist, 'index.js'))});
const certs = JSON.parse(process.env.CERTS);
const server = createServer({
  key: certs.serverKey,
  cert: certs.serverChain,
  SNICallback: (name, callback) => callback(null, ${answer}),
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

for (const [name, answer] of [
  ["node's tls.createSecureContext()", 'tls.createSecureContext({ key: certs.serverKey, cert: certs.serverChain })'],
  ['a plain object', '{}'],
] as const) {
  t.test(`an SNICallback answering with ${name} fails that connection, not the process`, async (t) => {
    const child = spawnSync(process.execPath, ['-e', script(answer)], {
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
    t.match(child.stdout, /^client closed$/m, 'the client sees its connection end');
  });
}
