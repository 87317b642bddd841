// The interop helpers themselves, against node:tls: openssl s_client and s_server, and the python3
// ssl clients, exchange data over TLS 1.3 and 1.2 and present client certificates. Other interop
// tests build on these, so a broken helper shows up here first rather than as a mystery elsewhere.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { certs, keyPath } from './helpers/certs';
import { opensslClient, opensslServer, pythonClient, type Peer } from './helpers/peers';

interface EchoServer {
  port: number;
  /** The next connection that completes its handshake. */
  nextSecure(): Promise<tls.TLSSocket>;
}

/** A node:tls server on 127.0.0.1:0 answering every chunk with "echo:<chunk>". */
async function echoServer(t: Test, options: tls.TlsOptions = {}): Promise<EchoServer> {
  const server = tls.createServer({ key: certs.serverKey, cert: certs.serverChain, ...options }, (socket) => {
    socket.on('data', (data) => socket.write(`echo:${String(data)}`));
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // Peers that are killed mid-connection reset it; that is not what these tests check.
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  // Whatever order teardowns run in, close() must not wait on a peer that is still connected.
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    port: (server.address() as AddressInfo).port,
    nextSecure: async () => ((await once(server, 'secureConnection')) as [tls.TLSSocket])[0],
  };
}

function closeOnTeardown<P extends Peer>(t: Test, peer: P): P {
  t.teardown(() => peer.close());
  return peer;
}

const clientIdentity = { cert: keyPath('clientCert'), key: keyPath('clientKey'), certChain: keyPath('intermediate') };

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`openssl s_client exchanges data with node:tls over ${version}`, async (t) => {
    const server = await echoServer(t);
    const accepted = server.nextSecure();
    const client = closeOnTeardown(
      t,
      opensslClient({
        port: server.port,
        CAfile: keyPath('ca'),
        tls13: version === 'TLSv1.3',
        tls12: version === 'TLSv1.2',
      }),
    );
    await client.handshake();
    const socket = await accepted;
    t.equal(socket.getProtocol(), version);
    t.match(client.output, /Verify return code: 0 \(ok\)/, 's_client verified the server chain');

    client.write('hello\n');
    await client.waitFor('echo:hello');
    socket.write('from-node\n');
    await client.waitFor('from-node');
  });
}

t.test('openssl s_client presents a client certificate chain', async (t) => {
  const server = await echoServer(t, { ca: certs.ca, requestCert: true, rejectUnauthorized: true });
  const accepted = server.nextSecure();
  const client = closeOnTeardown(t, opensslClient({ port: server.port, CAfile: keyPath('ca'), ...clientIdentity }));
  const socket = await accepted;
  t.equal(socket.authorized, true);
  t.equal(socket.getPeerCertificate().subject.CN, 'alice');
  await client.handshake();
});

t.test('openssl s_client in command mode renegotiates a TLS 1.2 connection', async (t) => {
  // node:tls (unlike a default OpenSSL 3 server) allows client-initiated renegotiation.
  const server = await echoServer(t, { maxVersion: 'TLSv1.2' });
  const client = closeOnTeardown(
    t,
    opensslClient({ port: server.port, CAfile: keyPath('ca'), tls12: true, commands: true, msg: true }),
  );
  await client.handshake();
  const before = client.output.length;
  await client.renegotiate();
  // A second ServerHello proves a new handshake ran on the same connection.
  await client.waitFor(/<<< TLS 1\.2, Handshake \[length [0-9a-f]+\], ServerHello/, 5_000, before);
  client.write('still-there\n');
  await client.waitFor('echo:still-there');
  const dataMode = closeOnTeardown(t, opensslClient({ port: server.port }));
  await t.rejects(dataMode.renegotiate(), /commands: true/, 'command letters are refused in data mode');
});

t.test('openssl s_server accepts a node:tls client and relays data both ways', async (t) => {
  const server = closeOnTeardown(
    t,
    await opensslServer({
      cert: keyPath('serverCert'),
      key: keyPath('serverKey'),
      certChain: keyPath('intermediate'),
    }),
  );
  t.ok(server.port > 0, 'the port s_server bound is known');

  const client = tls.connect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: certs.ca });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await once(client, 'secureConnect');
  t.equal(client.authorized, true, 'node:tls verified the s_server chain');
  await server.handshake();

  client.write('ping\n');
  await server.waitFor('ping');
  const received = once(client, 'data');
  server.write('pong\n');
  t.equal(String((await received)[0]), 'pong\n');
});

t.test('openssl s_server requires and reports a client certificate', async (t) => {
  const server = closeOnTeardown(
    t,
    await opensslServer({
      cert: keyPath('serverCert'),
      key: keyPath('serverKey'),
      certChain: keyPath('intermediate'),
      CAfile: keyPath('ca'),
      verify: 'require',
    }),
  );
  const client = tls.connect({
    host: '127.0.0.1',
    port: server.port,
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await once(client, 'secureConnect');
  await server.handshake();
  await server.waitFor(/depth=0 CN = alice\s+verify return:1/);
});

t.test('python3 plain client exchanges data with node:tls', async (t) => {
  const server = await echoServer(t);
  const client = closeOnTeardown(
    t,
    pythonClient('plain_client.py', ['--port', String(server.port), '--ca', keyPath('ca')]),
  );
  t.equal(await client.handshake(), 'localhost');
  await client.waitFor('PROTOCOL:TLSv1.3');
  client.write('hello\n');
  await client.waitFor('RECV:echo:hello\\n');
});

t.test('python3 client with a certificate is authorized by node:tls', async (t) => {
  const server = await echoServer(t, {
    ca: certs.ca,
    requestCert: true,
    rejectUnauthorized: true,
    maxVersion: 'TLSv1.2',
  });
  const accepted = server.nextSecure();
  const client = closeOnTeardown(
    t,
    pythonClient('pha_client.py', [
      '--port',
      String(server.port),
      '--ca',
      keyPath('ca'),
      '--cert',
      keyPath('clientChain'),
      '--key',
      keyPath('clientKey'),
    ]),
  );
  const socket = await accepted;
  t.equal(socket.authorized, true);
  t.equal(socket.getPeerCertificate().subject.CN, 'alice');
  await client.handshake();
  await client.waitFor('PROTOCOL:TLSv1.2');

  socket.destroy();
  await client.waitFor(/^CLOSED:/m);
  t.same(await client.exited, { code: 1, signal: null }, 'an abrupt close is reported as an error');
});

t.test('python3 client answers a TLS 1.3 post-handshake CertificateRequest from s_server', async (t) => {
  const server = closeOnTeardown(
    t,
    await opensslServer({
      cert: keyPath('serverCert'),
      key: keyPath('serverKey'),
      certChain: keyPath('intermediate'),
      CAfile: keyPath('ca'),
      tls13: true,
    }),
  );
  const client = closeOnTeardown(
    t,
    pythonClient('pha_client.py', [
      '--port',
      String(server.port),
      '--ca',
      keyPath('ca'),
      '--cert',
      keyPath('clientChain'),
      '--key',
      keyPath('clientKey'),
    ]),
  );
  await client.handshake();
  await server.handshake();
  t.notMatch(server.output, /CN = alice/, 'no certificate was asked for in the handshake');

  server.requestPostHandshakeAuth();
  await server.waitFor(/depth=0 CN = alice\s+verify return:1/);
  server.write('after-pha\n');
  await client.waitFor('RECV:after-pha');
});

t.test('python3 client with --no-pha makes s_server refuse to send the request', async (t) => {
  const server = closeOnTeardown(
    t,
    await opensslServer({
      cert: keyPath('serverCert'),
      key: keyPath('serverKey'),
      certChain: keyPath('intermediate'),
      CAfile: keyPath('ca'),
      tls13: true,
    }),
  );
  const client = closeOnTeardown(
    t,
    pythonClient('pha_client.py', [
      '--port',
      String(server.port),
      '--ca',
      keyPath('ca'),
      '--cert',
      keyPath('clientChain'),
      '--key',
      keyPath('clientKey'),
      '--no-pha',
    ]),
  );
  await client.handshake();
  await server.handshake();
  server.requestPostHandshakeAuth();
  // OpenSSL's error goes to stderr at once; s_server's own "Failed to initiate request" is a stdio
  // printf that stays buffered in the pipe until something flushes stdout.
  await server.waitFor(/SSL_verify_client_post_handshake:extension not received/);
  server.write('still-open\n');
  await client.waitFor('RECV:still-open');
});

t.test('waitFor rejects with the output when the peer exits first', async (t) => {
  // Nothing listens on port 1, so s_client fails to connect and exits.
  const client = closeOnTeardown(t, opensslClient({ port: 1 }));
  await t.rejects(
    client.waitFor('never printed', 5_000),
    /exited before printing never printed; output:[\s\S]*connect/,
  );
  t.not((await client.exited).code, 0);
});
