// HTTP/2 over connect(): http2.connect(url, { createConnection }) runs a session over our TLSSocket
// (ALPN h2), and a fresh re-authentication of that connection in mid-session is answered by the
// identity provider, so the session goes on under the rotated certificate.
import t from 'tap';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { connect, createServer, reauthorize, type TLSSocket } from '../dist/index.js';
import { makePki, mtlsOptions } from './helpers/mtls';

t.test('an HTTP/2 session over connect() follows the provider through a fresh re-authentication', async (t) => {
  const pki = await makePki();
  let client = pki.client;
  const connections: TLSSocket[] = [];
  const h2 = http2.createServer();
  h2.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.end(connections[0]?.getPeerX509Certificate()?.serialNumber ?? 'none');
  });
  const server = createServer(mtlsOptions(pki, { ALPNProtocols: ['h2'] }), (socket) => {
    connections.push(socket);
    h2.emit('connection', socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const sockets: TLSSocket[] = [];
  const session = http2.connect(`https://localhost:${port}`, {
    createConnection: () => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: pki.ca.rootCert,
        ALPNProtocols: ['h2'],
        identity: () => ({ key: client.key, cert: client.chain }),
      });
      sockets.push(socket);
      return socket;
    },
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        session.destroy();
        for (const socket of connections) socket.destroy();
        server.close(() => resolve());
      }),
  );
  const get = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => resolve(body));
      req.on('error', reject);
      req.end();
    });

  t.equal(await get(), client.serial, 'the handshake presented the first identity');
  t.equal(sockets[0]?.alpnProtocol, 'h2');
  client = await pki.ca.issueClient({ commonName: 'alice', validityMs: 60_000 });
  const decision = await reauthorize(connections[0]!, { fresh: true });
  t.equal(decision.certificate?.serialNumber, client.serial, 'the provider answered mid-session');
  t.equal(await get(), client.serial, 'the session goes on under the rotated certificate');
  t.equal(connections.length, 1, 'one connection');
  t.equal(sockets.length, 1, 'createConnection was called once');
});
