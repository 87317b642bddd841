// Interop with Python's ssl module (CPython linked to the system OpenSSL) as a client of our server on
// loopback: data both ways with and without a client certificate, and TLS 1.3 post-handshake auth
// answered by a client with `post_handshake_auth = True` (and refused when it is off).
import t, { type Test } from 'tap';
import { createServer, type ServerOptions, type TLSSocket } from '../dist/index.js';
import { certs, keyPath } from './helpers/certs';
import { pythonClient, type PythonClient, type PythonScript } from './helpers/peers';
import { listenLoopback, textSink, waitFor, type TextSink } from './helpers/interop-net';

interface Accepted {
  socket: TLSSocket;
  received: TextSink;
}

async function startServer(t: Test, options: ServerOptions): Promise<{ port: number; next(): Promise<Accepted> }> {
  const server = createServer({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, ...options });
  const port = await listenLoopback(t, server);
  return {
    port,
    async next() {
      const [socket] = await waitFor<[TLSSocket]>(server, 'secureConnection');
      return { socket, received: textSink(socket) };
    },
  };
}

function startPython(t: Test, script: PythonScript, port: number, args: string[] = []): PythonClient {
  const client = pythonClient(script, ['--port', String(port), '--ca', keyPath('ca'), ...args]);
  t.teardown(() => client.close());
  return client;
}

const alice = ['--cert', keyPath('clientChain'), '--key', keyPath('clientKey')];

/** Server -> python, then python -> server; python prints what it receives as RECV: lines. */
async function exchange(t: Test, accepted: Accepted, client: PythonClient, tag: string): Promise<void> {
  const from = client.output.length;
  accepted.socket.write(`${tag} from our server\n`);
  await client.waitFor(`${tag} from our server`, undefined, from);
  const mark = accepted.received.text.length;
  client.write(`${tag} from python\n`);
  await accepted.received.waitFor(`${tag} from python\n`, undefined, mark);
  t.pass(`${tag}: data flows both ways`);
}

/** Our server closes with close_notify; python must see a clean EOF and exit 0. */
async function closeCleanly(t: Test, accepted: Accepted, client: PythonClient): Promise<void> {
  accepted.socket.end();
  await client.waitFor(/^CLOSED:eof$/m);
  t.equal((await client.exited).code, 0, 'python saw a clean close_notify and exited 0');
}

for (const version of ['1.2', '1.3'] as const) {
  t.test(`python ssl client with a certificate (TLS ${version})`, async (t) => {
    const { port, next } = await startServer(t, { requestCert: true, rejectUnauthorized: true });
    const accepted = next();
    const client = startPython(t, 'pha_client.py', port, [...alice, '--tls', version]);
    const connection = await accepted;
    t.equal(await client.handshake(), 'localhost', 'python verified our server (CN and host name)');
    t.match(client.output, new RegExp(`^PROTOCOL:TLSv${version.replace('.', '\\.')}$`, 'm'));
    t.equal(connection.socket.getProtocol(), `TLSv${version}`);
    t.equal(connection.socket.authorized, true, "our server verified python's certificate");
    t.equal(connection.socket.getPeerX509Certificate()?.subject, 'CN=alice');
    await exchange(t, connection, client, 'hello');
    await closeCleanly(t, connection, client);
  });

  t.test(`python ssl client without a certificate (TLS ${version})`, async (t) => {
    const { port, next } = await startServer(t, {});
    const accepted = next();
    const client = startPython(t, 'plain_client.py', port, ['--tls', version]);
    const connection = await accepted;
    t.equal(await client.handshake(), 'localhost');
    t.equal(connection.socket.getProtocol(), `TLSv${version}`);
    t.equal(connection.socket.authorized, false);
    t.equal(connection.socket.getPeerX509Certificate(), undefined);
    await exchange(t, connection, client, 'hello');
    await closeCleanly(t, connection, client);
  });
}

t.test('post-handshake auth answered by python (post_handshake_auth = True)', async (t) => {
  const { port, next } = await startServer(t, { minVersion: 'TLSv1.3' });
  const accepted = next();
  const client = startPython(t, 'pha_client.py', port, alice);
  const connection = await accepted;
  const { socket, received } = connection;
  await client.handshake();
  t.equal(socket.authorized, false, 'no certificate in the handshake');

  // What the application sees, in order, with the identity it would attribute each chunk to.
  const timeline: string[] = [];
  socket.on('certificate', (result: { chain: Array<{ subject: string }> }) =>
    timeline.push(`certificate ${result.chain[0]?.subject}`),
  );
  socket.on('data', (chunk: Buffer) => {
    const who = socket.getPeerX509Certificate()?.subject ?? 'anonymous';
    for (const line of chunk.toString().split('\n').filter(Boolean)) timeline.push(`data ${line} as ${who}`);
  });
  await exchange(t, connection, client, 'before');

  const request = socket.requestCertificate({ timeout: 5_000 });
  request.then(
    () => timeline.push('resolved'),
    () => {},
  );
  // The CertificateRequest precedes this record, and CPython answers it inside recv(): once python
  // prints this line it has sent its certificate, so what it sends next comes after the new cert.
  const from = client.output.length;
  socket.write('certificate requested\n');
  await client.waitFor('certificate requested', undefined, from);
  client.write('sent after the request\n');

  const result = await request;
  t.equal(result.verified, true);
  t.equal(result.chain[0]?.subject, 'CN=alice', 'resolves with the certificate python was given');
  t.equal(socket.authorized, true);
  await received.waitFor('sent after the request\n');
  t.same(
    timeline.filter((entry) => entry !== 'resolved'),
    ['data before from python as anonymous', 'certificate CN=alice', 'data sent after the request as CN=alice'],
    'data sent after the request is delivered after the new certificate, in order',
  );
  t.equal(received.text, 'before from python\nsent after the request\n', 'nothing lost, duplicated or reordered');
  await exchange(t, connection, client, 'after');
  await closeCleanly(t, connection, client);
});

t.test('data python sends while a post-handshake request is out is held until its certificate', async (t) => {
  const { port, next } = await startServer(t, { minVersion: 'TLSv1.3' });
  const accepted = next();
  const client = startPython(t, 'pha_client.py', port, alice);
  const connection = await accepted;
  const { socket, received } = connection;
  await client.handshake();
  await exchange(t, connection, client, 'before');

  const timeline: string[] = [];
  socket.on('certificate', () => timeline.push('certificate'));
  socket.on('data', () => timeline.push(`data as ${socket.getPeerX509Certificate()?.subject ?? 'anonymous'}`));
  // Several rounds on one connection. Python's stdin is written first, so it usually sends before it
  // reads the CertificateRequest: its data then reaches us ahead of its certificate, while the
  // request is out. Either way the data must come out after the new certificate.
  for (const round of [1, 2, 3, 4, 5]) {
    timeline.length = 0;
    const mark = received.text.length;
    client.write(`racing the request ${round}\n`);
    const request = socket.requestCertificate({ timeout: 5_000 });
    const result = await request;
    t.equal(result.chain[0]?.subject, 'CN=alice', `round ${round}: resolves with alice`);
    await received.waitFor(`racing the request ${round}\n`, undefined, mark);
    t.equal(timeline[0], 'certificate', `round ${round}: the certificate comes before the data`);
    t.ok(
      timeline.slice(1).every((entry) => entry === 'data as CN=alice'),
      `round ${round}: the data is attributed to alice`,
    );
  }
  await exchange(t, connection, client, 'after');
  await closeCleanly(t, connection, client);
});

t.test('python without post_handshake_auth: requestCertificate rejects with ERR_CTLS_FRESH_UNSUPPORTED', async (t) => {
  const { port, next } = await startServer(t, { minVersion: 'TLSv1.3' });
  const accepted = next();
  const client = startPython(t, 'pha_client.py', port, [...alice, '--no-pha']);
  const connection = await accepted;
  await client.handshake();
  await t.rejects(connection.socket.requestCertificate(), { code: 'ERR_CTLS_FRESH_UNSUPPORTED' });
  t.equal(connection.socket.destroyed, false, 'the refusal does not cost the connection');
  t.equal(connection.socket.authorized, false);
  await exchange(t, connection, client, 'still');
  await closeCleanly(t, connection, client);
});
