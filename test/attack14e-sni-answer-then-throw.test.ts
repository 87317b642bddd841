// Attack: an SNICallback that answers and then throws (it hands back a context, then its own
// bookkeeping, logging or a later lookup on the same stack fails). The contract says a callback
// that throws, whatever it throws, fails the connection. askSniCallback() marks the callback as
// answered at its first answer and then swallows the throw (`if (answered) return`): the handshake
// goes on under the context of a callback that failed, and the client is admitted as if nothing
// had gone wrong; the app's failure is not even reported.
// A correct library fails that connection (the callback threw), exactly as it does for a throw
// before any answer, and never admits a client on the answer of a failed callback.
// Attack class: app callback misuse / swallowed error (fail-open).
import t from 'tap';
import { once } from 'node:events';
import { createServer, connect, createSecureContext } from '../dist/index.js';
import { certs } from './helpers/certs';

t.test('an SNICallback that answers and then throws fails the connection', async (t) => {
  let admitted = false;
  let threw = false;
  const context = createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca }, true);
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    ca: certs.ca,
    requestCert: true,
    rejectUnauthorized: true,
    SNICallback: (_name, cb) => {
      cb(null, context);
      threw = true;
      throw new Error('the callback failed after answering');
    },
  });
  server.on('tlsClientError', () => {});
  server.on('secureConnection', (socket) => {
    admitted = true;
    socket.on('error', () => {});
    socket.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const client = connect({
    port: (server.address() as { port: number }).port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
  });
  client.on('error', () => {});
  client.resume();
  await Promise.race([new Promise((r) => client.once('close', r)), new Promise((r) => setTimeout(r, 2000))]);
  client.destroy();
  t.equal(threw, true, 'the callback ran and threw');
  t.equal(admitted, false, 'a connection whose SNICallback threw is not admitted');
});
