// Handshake messages a hostile peer inflates are refused by OpenSSL's own ceilings, and the refusal
// reaches the server as a coded tlsClientError (ERR_SSL_EXCESSIVE_MESSAGE_SIZE) as soon as the
// message header announces too much, never a crash or a hang:
// - a ClientHello over OpenSSL's CLIENT_HELLO_MAX_LENGTH (131,396 bytes, ssl/statem/statem_local.h);
//   one just under it is processed;
// - a client certificate chain over SSL_CTX_set_max_cert_list(3)'s default of 100 KiB, in the
//   handshake and in answer to a post-handshake certificate request.
import t from 'tap';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createServer, connect, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor, SOON } from './helpers/owned';
import { makePki, mtlsOptions, startServer, connectPair, codeOf } from './helpers/mtls';

const KiB = 1024;

/** The first flight of a node:tls client (a ClientHello), as raw bytes. */
async function captureClientHello(): Promise<Buffer> {
  const catcher = net.createServer();
  await new Promise<void>((resolve) => catcher.listen(0, '127.0.0.1', resolve));
  const port = (catcher.address() as net.AddressInfo).port;
  const hello = new Promise<Buffer>((resolve) =>
    catcher.once('connection', (socket) =>
      socket.once('data', (chunk: Buffer) => {
        resolve(chunk);
        socket.destroy();
      }),
    ),
  );
  const client = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
  client.on('error', () => {});
  const bytes = await hello;
  client.destroy();
  catcher.close();
  return bytes;
}

/**
 * The captured ClientHello with one more extension of `extensionBytes` (an unassigned type, which
 * a server ignores, RFC 8446 section 4.2), split into records of at most 2^14 bytes.
 * `announce` overrides the handshake message length in the header.
 */
function inflatedClientHello(captured: Buffer, extensionBytes: number | 'max', announce?: number): Buffer {
  const body = captured.subarray(9, 9 + captured.readUIntBE(6, 3));
  let at = 2 + 32; // legacy_version, random
  at += 1 + body[at]!; // legacy_session_id
  at += 2 + body.readUInt16BE(at); // cipher_suites
  at += 1 + body[at]!; // legacy_compression_methods
  const extensions = body.subarray(at + 2, at + 2 + body.readUInt16BE(at));
  const bytes = extensionBytes === 'max' ? 0xffff - extensions.length - 4 : extensionBytes;
  const extra = Buffer.alloc(4 + bytes);
  extra.writeUInt16BE(0x7a7a, 0);
  extra.writeUInt16BE(bytes, 2);
  const allExtensions = Buffer.concat([extensions, extra]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(allExtensions.length);
  const newBody = Buffer.concat([body.subarray(0, at), length, allExtensions]);
  const header = Buffer.alloc(4);
  header[0] = 1; // client_hello
  header.writeUIntBE(announce ?? newBody.length, 1, 3);
  const message = Buffer.concat([header, newBody]);
  const records: Buffer[] = [];
  for (let offset = 0; offset < message.length; offset += 16384) {
    const fragment = message.subarray(offset, offset + 16384);
    const recordHeader = Buffer.from([0x16, 0x03, 0x01, 0, 0]);
    recordHeader.writeUInt16BE(fragment.length, 3);
    records.push(recordHeader, fragment);
  }
  return Buffer.concat(records);
}

async function sendRaw(port: number, bytes: Buffer): Promise<{ socket: net.Socket; firstReply: Promise<Buffer> }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  await waitFor(socket, 'connect');
  const firstReply = new Promise<Buffer>((resolve) => socket.once('data', resolve));
  socket.write(bytes);
  return { socket, firstReply };
}

t.test('ClientHello size', async (t) => {
  const captured = await captureClientHello();
  const server = createServer({ key: certs.serverKey, cert: certs.serverChain });
  const transports: net.Socket[] = [];
  server.on('connection', (socket: net.Socket) => transports.push(socket));
  const port = await listen(t, server);

  for (const [label, extension, announce] of [
    ['a ClientHello announcing 200 KiB', 60_000, 200 * KiB],
    ['a header announcing 16 MiB', 100, 0xffffff],
  ] as const) {
    t.test(`${label} is refused with ERR_SSL_EXCESSIVE_MESSAGE_SIZE`, async (t) => {
      const failed = waitFor<[Error & { code?: string }]>(server, 'tlsClientError', SOON);
      const { socket, firstReply } = await sendRaw(port, inflatedClientHello(captured, extension, announce));
      t.teardown(() => socket.destroy());
      const [error] = await failed;
      t.equal(error.code, 'ERR_SSL_EXCESSIVE_MESSAGE_SIZE', error.message);
      t.equal((await firstReply)[0], 0x15, 'the peer got an alert');
    });
  }

  t.test('a ClientHello with the most extension bytes its u16 length allows is answered', async (t) => {
    const bytes = inflatedClientHello(captured, 'max');
    const { socket, firstReply } = await sendRaw(port, bytes);
    t.teardown(() => socket.destroy());
    const reply = await firstReply;
    t.equal(reply[0], 0x16, 'the server answered with its handshake flight (ServerHello)');
  });
});

/** A client chain of more than `bytes`: the real chain plus copies of its intermediate. */
function paddedChain(chain: string, bytes: number): string {
  const blocks = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;
  const intermediate = blocks[1] ?? blocks[0]!;
  const copies = Math.ceil(bytes / (intermediate.length * 0.7)); // DER is about 3/4 of PEM
  return chain + intermediate.repeat(copies);
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: a 1 MiB client certificate chain in the handshake is refused with a code`, async (t) => {
    const pki = await makePki();
    const { server, port } = await startServer(t, mtlsOptions(pki, { maxVersion: version }));
    const failed = waitFor<[Error & { code?: string }]>(server, 'tlsClientError', SOON);
    const client = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: pki.ca.rootCert,
      key: pki.client.key,
      cert: paddedChain(pki.client.chain, 1024 * KiB),
    });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    const [error] = await failed;
    t.equal(error.code, 'ERR_SSL_EXCESSIVE_MESSAGE_SIZE', error.message);
  });
}

t.test('TLSv1.3: a 1 MiB chain in answer to a certificate request is refused with a code', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const { client, socket } = await connectPair(t, server, port, pki);
  socket.on('error', () => {});
  client.setIdentity({ key: pki.client.key, cert: paddedChain(pki.client.chain, 1024 * KiB) });
  await t.rejects(socket.requestCertificate({ timeout: SOON }), { code: 'ERR_SSL_EXCESSIVE_MESSAGE_SIZE' });
  t.equal(codeOf((socket as TLSSocket).destroyReason), 'ERR_SSL_EXCESSIVE_MESSAGE_SIZE');
  t.equal(socket.destroyed, true, 'the connection is closed');
});

t.test('a chain just under 100 KiB is accepted', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const client = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: paddedChain(pki.client.chain, 80 * KiB),
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const [socket] = await accepted;
  t.equal(socket.authorized, true);
});
