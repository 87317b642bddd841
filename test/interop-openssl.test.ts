// Interop with the openssl command line tools (the system's OpenSSL, a separate build from Node's) on
// loopback: s_client against our server, s_server against our client, a fresh certificate asked of a
// live s_client through TLS 1.3 post-handshake auth and TLS 1.2 renegotiation, and a client-initiated
// renegotiation that our server refuses.
import t, { type Test } from 'tap';
import { connect, createServer, type Server, type ServerOptions, type TLSSocket } from '../dist/index.js';
import { certs, keyPath } from './helpers/certs';
import { opensslClient, opensslServer, type OpensslClient, type OpensslClientOptions } from './helpers/peers';
import { listenLoopback, textSink, waitFor, type TextSink } from './helpers/interop-net';

const versions = ['TLSv1.2', 'TLSv1.3'] as const;
type Version = (typeof versions)[number];

const serverIdentity = { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca };
/** alice, as s_client presents her: the leaf in -cert, the intermediate in -cert_chain. */
const aliceFiles = { cert: keyPath('clientCert'), key: keyPath('clientKey'), certChain: keyPath('intermediate') };

interface Accepted {
  socket: TLSSocket;
  received: TextSink;
}

/** Our server on loopback; resolves each accepted connection with a sink of what it received. */
async function startServer(
  t: Test,
  options: ServerOptions,
): Promise<{ server: Server; port: number; next(): Promise<Accepted> }> {
  const server = createServer({ ...serverIdentity, ...options });
  const port = await listenLoopback(t, server);
  return {
    server,
    port,
    async next() {
      const [socket] = await waitFor<[TLSSocket]>(server, 'secureConnection');
      return { socket, received: textSink(socket) };
    },
  };
}

function startClient(t: Test, options: OpensslClientOptions): OpensslClient {
  const client = opensslClient({ servername: 'localhost', CAfile: keyPath('ca'), ...options });
  t.teardown(() => client.close());
  return client;
}

function versionFlags(version: Version): { tls12?: boolean; tls13?: boolean } {
  return version === 'TLSv1.3' ? { tls13: true } : { tls12: true };
}

/** One line each way between our server socket and an openssl peer, checked on both sides. */
async function exchange(t: Test, accepted: Accepted, peer: OpensslClient, tag: string): Promise<void> {
  const from = peer.output.length;
  accepted.socket.write(`${tag} from our server\n`);
  await peer.waitFor(`${tag} from our server`, undefined, from);
  const mark = accepted.received.text.length;
  peer.write(`${tag} from s_client\n`);
  await accepted.received.waitFor(`${tag} from s_client\n`, undefined, mark);
  t.pass(`${tag}: data flows both ways`);
}

for (const version of versions) {
  t.test(`openssl s_client with a client certificate against our server (${version})`, async (t) => {
    const { port, next } = await startServer(t, {
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: version,
      maxVersion: version,
    });
    const accepted = next();
    const client = startClient(t, { port, ...aliceFiles, ...versionFlags(version) });
    const connection = await accepted;
    await client.handshake();

    t.equal(connection.socket.getProtocol(), version);
    t.equal(connection.socket.authorized, true, "our server verified s_client's certificate");
    t.equal(connection.socket.getPeerX509Certificate()?.subject, 'CN=alice');
    t.equal(connection.socket.getPeerCertificateChain().length, 2, 'leaf and the -cert_chain intermediate');
    // s_client prints its session summary only once the session (on TLS 1.3:
    // the first ticket) is in, which can trail the handshake on a loaded machine.
    t.ok(await client.waitFor(/Verification: OK/, 10_000), 's_client verified our server chain to its -CAfile root');
    t.ok(
      await client.waitFor(new RegExp(`Protocol\\s*: ${version.replace('.', '\\.')}`), 10_000),
      `s_client reports ${version}`,
    );
    await exchange(t, connection, client, 'hello');
  });

  t.test(`openssl s_server demanding a client certificate against our client (${version})`, async (t) => {
    const server = await opensslServer({
      cert: keyPath('serverCert'),
      key: keyPath('serverKey'),
      certChain: keyPath('intermediate'),
      CAfile: keyPath('ca'),
      verify: 'require',
      naccept: 1,
      ...versionFlags(version),
    });
    t.teardown(() => server.close());

    const client = connect({
      host: '127.0.0.1',
      port: server.port,
      servername: 'localhost',
      ca: certs.ca,
      key: certs.clientKey,
      cert: certs.clientChain,
      minVersion: version,
      maxVersion: version,
    });
    t.teardown(() => client.destroy());
    const received = textSink(client);
    await waitFor(client, 'secureConnect');
    await server.handshake();

    t.equal(client.getProtocol(), version);
    t.equal(client.authorized, true, "our client verified s_server's chain");
    t.equal(client.getPeerX509Certificate()?.subject, 'CN=localhost');
    t.match(server.output, /depth=0 CN = alice\s+verify return:1/, 's_server verified our client certificate');
    t.match(server.output, /subject=CN = alice/, 's_server reports alice as the client');

    let from = server.output.length;
    client.write('hello from our client\n');
    await server.waitFor('hello from our client', undefined, from);
    server.write('hello from s_server\n');
    await received.waitFor('hello from s_server\n');
    from = server.output.length;
    client.end();
    await server.waitFor(/CONNECTION CLOSED|DONE/, undefined, from);
  });
}

t.test('TLS 1.3 post-handshake auth: our server asks s_client -enable_pha for a certificate', async (t) => {
  const { port, next } = await startServer(t, { minVersion: 'TLSv1.3' });
  const accepted = next();
  const client = startClient(t, { port, ...aliceFiles, tls13: true, enablePha: true, msg: true });
  const connection = await accepted;
  await client.handshake();
  t.equal(connection.socket.nativeTransport, process.platform !== 'win32', 'the addon owns the socket (POSIX)');
  t.equal(connection.socket.authorized, false, 'no certificate was asked for in the handshake');
  t.equal(connection.socket.getPeerX509Certificate(), undefined);
  await exchange(t, connection, client, 'before');

  const seen: string[] = [];
  connection.socket.on('certificate', () => seen.push('certificate'));
  const from = client.output.length;
  const result = await connection.socket.requestCertificate({ timeout: 5_000 });
  t.equal(result.verified, true);
  t.equal(result.chain[0]?.subject, 'CN=alice', 'resolves with the certificate s_client was given');
  t.equal(result.der.length, 2);
  t.same(seen, ['certificate']);
  t.equal(connection.socket.authorized, true);
  t.equal(connection.socket.getPeerX509Certificate()?.subject, 'CN=alice');
  await client.waitFor(/<<< TLS 1\.3, Handshake \[length [0-9a-f]+\], CertificateRequest/, undefined, from);
  t.match(
    client.output.slice(from),
    />>> TLS 1\.3, Handshake \[length [0-9a-f]+\], CertificateVerify/,
    's_client answered with its key',
  );
  await exchange(t, connection, client, 'after');
});

t.test(
  'TLS 1.3 post-handshake auth: s_client without -enable_pha is refused with ERR_CTLS_FRESH_UNSUPPORTED',
  async (t) => {
    const { port, next } = await startServer(t, { minVersion: 'TLSv1.3' });
    const accepted = next();
    const client = startClient(t, { port, ...aliceFiles, tls13: true });
    const connection = await accepted;
    await client.handshake();
    await t.rejects(connection.socket.requestCertificate(), { code: 'ERR_CTLS_FRESH_UNSUPPORTED' });
    t.equal(connection.socket.destroyed, false, 'the refusal does not cost the connection');
    t.equal(connection.socket.reauthenticating, false);
    await exchange(t, connection, client, 'still');
  },
);

t.test('TLS 1.2 renegotiation: our server asks s_client -tls1_2 for a certificate', async (t) => {
  const { port, next } = await startServer(t, { maxVersion: 'TLSv1.2' });
  const accepted = next();
  const client = startClient(t, { port, ...aliceFiles, tls12: true, msg: true });
  const connection = await accepted;
  await client.handshake();
  t.equal(connection.socket.nativeTransport, process.platform !== 'win32', 'the addon owns the socket (POSIX)');
  t.equal(connection.socket.getProtocol(), 'TLSv1.2');
  t.match(client.output, /Secure Renegotiation IS supported/);
  t.equal(connection.socket.getPeerX509Certificate(), undefined);
  await exchange(t, connection, client, 'before');

  const from = client.output.length;
  const result = await connection.socket.requestCertificate({ timeout: 5_000 });
  t.equal(result.verified, true);
  t.equal(result.chain[0]?.subject, 'CN=alice', 'resolves with the certificate s_client was given');
  t.equal(connection.socket.authorized, true);
  const renegotiation = client.output.slice(from);
  t.match(renegotiation, /<<< TLS 1\.2, Handshake \[length [0-9a-f]+\], HelloRequest/, 's_client got the HelloRequest');
  t.match(
    renegotiation,
    /<<< TLS 1\.2, Handshake \[length [0-9a-f]+\], CertificateRequest/,
    'and a CertificateRequest',
  );
  t.match(
    renegotiation,
    />>> TLS 1\.2, Handshake \[length [0-9a-f]+\], CertificateVerify/,
    'and answered with its key',
  );
  await exchange(t, connection, client, 'after');
});

t.test('client-initiated renegotiation from s_client is refused; the server keeps serving', async (t) => {
  const { port, next } = await startServer(t, { maxVersion: 'TLSv1.2' });
  const accepted = next();
  const client = startClient(t, { port, tls12: true, commands: true });
  const connection = await accepted;
  await client.handshake();
  await exchange(t, connection, client, 'before');
  let certificateEvents = 0;
  connection.socket.on('certificate', () => certificateEvents++);
  const socketErrors: Array<Error & { code?: string }> = [];
  connection.socket.on('error', (error) => socketErrors.push(error));

  const from = client.output.length;
  await client.renegotiate();
  // OpenSSL 3 servers answer a client's renegotiation ClientHello with a no_renegotiation warning
  // (RFC 5746 section 4.5 / RFC 5246 7.2.2); OpenSSL's own client then aborts the connection itself.
  await client.waitFor(/no renegotiation/, undefined, from);
  await client.exited;
  t.equal(certificateEvents, 0, 'no renegotiation took place on our side');
  if (!connection.socket.destroyed) await waitFor(connection.socket, 'close');
  for (const error of socketErrors) t.match(error.code, /^ERR_/, `the socket error is coded (${error.code})`);

  // The server itself is unharmed: a new client connects and talks.
  const again = next();
  const second = startClient(t, { port, tls12: true });
  const secondConnection = await again;
  await second.handshake();
  await exchange(t, secondConnection, second, 'next');
});
