// Attack: the SNICallback is the app's own callback; the library promises that "a callback that
// throws counts as an error answer" (the connection fails). askSniCallback() catches the throw and
// calls answer(error) with the thrown value, and the socket tests `if (error)`: a thrown value that
// is falsy (undefined, null, 0, '') is taken for a success with no context, and the handshake goes on
// under the server's default context. An SNICallback that refuses a name by throwing (a lookup
// failure surfacing as `throw undefined`, a rejected `await` of a falsy reason in a sync wrapper)
// lets that peer in on the default context instead of failing the connection: fail-open.
// A correct library fails the connection whenever the callback throws, whatever it throws (a
// throw is recorded as "threw", not as the thrown value's truthiness).
// Attack class: hostile thrown values / fail-open on app callback failure.
import t from 'tap';
import { once } from 'node:events';
import { createServer, connect } from '../dist/index.js';
import { certs } from './helpers/certs';

for (const [name, thrown] of [
  ['undefined', undefined],
  ['null', null],
  ['0', 0],
  ["''", ''],
] as const) {
  t.test(`an SNICallback that throws ${name} fails the connection`, async (t) => {
    let admitted = false;
    const server = createServer({
      key: certs.serverKey,
      cert: certs.serverChain,
      ca: certs.ca,
      requestCert: true,
      rejectUnauthorized: true,
      SNICallback: () => {
        throw thrown;
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
    t.equal(admitted, false, 'the server did not admit a connection its SNICallback threw on');
  });
}
