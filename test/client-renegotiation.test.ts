// Client side: a server that renegotiates (TLS 1.2) and presents another certificate is refused,
// where node:tls takes the new identity silently (its getPeerCertificate() then shows it).
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { constants } from 'node:crypto';
import { connect, type TLSSocket } from '../dist/index.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { closed, waitFor, SOON } from './helpers/owned';

async function renegotiatingServer(t: Test, swap: boolean): Promise<{ port: number; ca: DevelopmentCA }> {
  const ca = await DevelopmentCA.create();
  const [first, second] = await Promise.all([
    ca.issueServer({ commonName: 'localhost' }),
    ca.issueServer({ commonName: 'impostor', altNames: ['localhost'] }),
  ]);
  const other = tls.createSecureContext({ key: second.key, cert: second.chain });
  // A full handshake each time: a resumed renegotiation would carry no certificate at all.
  const server = tls.createServer(
    {
      key: first.key,
      cert: first.chain,
      maxVersion: 'TLSv1.2',
      secureOptions: constants.SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION,
    },
    (socket) => {
      socket.on('error', () => {});
      socket.on('data', (data) => socket.write(data));
      socket.once('data', () => {
        if (swap) (socket as tls.TLSSocket & { setKeyCert(context: tls.SecureContext): void }).setKeyCert(other);
        socket.renegotiate({}, () => socket.write('renegotiated'));
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return { port: (server.address() as { port: number }).port, ca };
}

function dial(t: Test, port: number, ca: DevelopmentCA): TLSSocket {
  const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.rootCert, maxVersion: 'TLSv1.2' });
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  return socket;
}

t.test('the same certificate again: the renegotiation completes and data flows', async (t) => {
  const { port, ca } = await renegotiatingServer(t, false);
  const socket = dial(t, port, ca);
  await waitFor(socket, 'secureConnect', SOON);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk));
  socket.write('hello');
  const deadline = Date.now() + SOON;
  while (!received.includes('renegotiated') && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 10));
  t.match(received, /renegotiated/);
  t.equal(socket.destroyed, false);
});

t.test(
  'another certificate: the client refuses with ERR_CTLS_PEER_CERT_CHANGED and receives nothing after it',
  async (t) => {
    const { port, ca } = await renegotiatingServer(t, true);
    const socket = dial(t, port, ca);
    await waitFor(socket, 'secureConnect', SOON);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk));
    const failed = waitFor<[Error & { code?: string }]>(socket, 'error', SOON);
    socket.write('hello');
    t.equal((await failed)[0].code, 'ERR_CTLS_PEER_CERT_CHANGED');
    await closed(socket);
    t.notMatch(received, /renegotiated/, 'nothing from the impostor');
  },
);
