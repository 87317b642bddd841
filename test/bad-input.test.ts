// Hostile or broken peers: each kind of bad input yields a coded tlsClientError (or a coded
// 'error' on an established socket), nothing crashes, and the server keeps serving good clients.
import t, { type Test } from 'tap';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createServer, connect, type TLSSocket } from '../dist/index.js';
import type { Server } from '../dist/server.js';
import { certs } from './helpers/certs';
import { listen, waitFor, closed, SOON } from './helpers/owned';

type CodedError = Error & {
  code?: string;
  reason?: string;
  library?: string;
  opensslCode?: number;
  verifyError?: string;
};

const server = createServer({
  key: certs.serverKey,
  cert: certs.serverChain,
  ca: certs.ca,
  requestCert: true,
  handshakeTimeout: 5_000,
});
server.on('secureConnection', (socket) => {
  socket.on('error', () => {});
  socket.on('data', (data: Buffer) => socket.write(data));
});
let port = 0;
t.before(async () => {
  port = await listen(t, server);
});

/** The next tlsClientError of the server. */
function nextClientError(target: Server = server): Promise<CodedError> {
  return waitFor<[CodedError]>(target, 'tlsClientError', SOON).then(([error]) => error);
}

/** A raw TCP client that sends `bytes` (then FIN when `end`), ignoring whatever comes back. */
function raw(bytes: Buffer, end: boolean): net.Socket {
  const socket = net.connect({ port, host: '127.0.0.1' }, () => (end ? socket.end(bytes) : socket.write(bytes)));
  socket.on('error', () => {});
  socket.resume();
  t.teardown(() => socket.destroy());
  return socket;
}

function nodeClient(options: tls.ConnectionOptions): tls.TLSSocket {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca, ...options });
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  return socket;
}

/** A full mTLS exchange with a good client: proof the server still serves. */
async function stillServes(t: Test): Promise<void> {
  const client = connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
  });
  t.teardown(() => client.destroy());
  const echo = waitFor<[Buffer]>(client, 'data', SOON);
  client.write('still here');
  t.equal((await echo)[0].toString(), 'still here', 'a good client is still served');
  client.end();
  await closed(client);
}

/** Polls `predicate` until it holds; fails after SOON. */
async function until(predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + SOON;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A TLS record header: handshake content type, legacy version, length. */
function recordHeader(length: number): Buffer {
  return Buffer.from([0x16, 0x03, 0x01, (length >> 8) & 0xff, length & 0xff]);
}

const cases: Array<{ name: string; code: string | RegExp; fields?: Record<string, unknown>; start: () => unknown }> = [
  { name: 'garbage bytes', code: 'ERR_SSL_WRONG_VERSION_NUMBER', start: () => raw(Buffer.alloc(200, 0xab), false) },
  {
    name: 'plain HTTP to a TLS port',
    code: 'ERR_SSL_HTTP_REQUEST',
    start: () => raw(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), false),
  },
  {
    name: 'a truncated record, then FIN',
    code: 'ERR_SSL_UNEXPECTED_EOF_WHILE_READING',
    start: () => raw(Buffer.concat([recordHeader(100), Buffer.from([1, 0, 0, 96, 3, 3])]), true),
  },
  {
    name: 'a connection closed before any byte',
    code: 'ERR_SSL_UNEXPECTED_EOF_WHILE_READING',
    start: () => raw(Buffer.alloc(0), true),
  },
  {
    name: 'an oversized record header (length 2^14 + 256 + 1), with its body',
    code: 'ERR_SSL_DATA_LENGTH_TOO_LONG',
    start: () => raw(Buffer.concat([recordHeader(16384 + 257), Buffer.alloc(16384 + 257)]), false),
  },
  {
    name: 'an oversized record header (length 65535), alone',
    // OpenSSL 3.0 names the header's length; the record layer of 3.2+ names the data length.
    code: /^ERR_SSL_(PACKET|DATA)_LENGTH_TOO_LONG$/,
    start: () => raw(recordHeader(0xffff), false),
  },
  {
    name: 'a TLS 1.0 ClientHello',
    code: 'ERR_SSL_UNSUPPORTED_PROTOCOL',
    start: () => nodeClient({ minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }),
  },
  {
    name: 'a TLS 1.1 ClientHello',
    code: 'ERR_SSL_UNSUPPORTED_PROTOCOL',
    start: () => nodeClient({ minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
  },
  {
    name: 'an expired client certificate',
    code: 'ERR_CTLS_CERT_VERIFY',
    fields: { verifyError: 'CERT_HAS_EXPIRED', reason: 'certificate verify failed' },
    start: () => nodeClient({ key: certs.clientExpiredKey, cert: certs.clientExpiredChain }),
  },
  {
    name: 'an unknown-CA client certificate',
    code: 'ERR_CTLS_CERT_VERIFY',
    fields: { verifyError: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', reason: 'certificate verify failed' },
    start: () => nodeClient({ key: certs.clientWrongCaKey, cert: certs.clientWrongCaChain }),
  },
  { name: 'no client certificate (TLS 1.3)', code: 'ERR_CTLS_NO_PEER_CERTIFICATE', start: () => nodeClient({}) },
  {
    name: 'no client certificate (TLS 1.2)',
    code: 'ERR_CTLS_NO_PEER_CERTIFICATE',
    start: () => nodeClient({ maxVersion: 'TLSv1.2' }),
  },
];

for (const { name, code, fields, start } of cases) {
  t.test(name, async (t) => {
    const failure = nextClientError();
    start();
    const error = await failure;
    if (typeof code === 'string') t.equal(error.code, code, `tlsClientError ${code}`);
    else t.match(error.code, code, `tlsClientError ${code}`);
    if (String(error.code).startsWith('ERR_SSL_')) {
      t.match(error, { reason: String, library: 'SSL routines', opensslCode: Number }, 'OpenSSL reason carried over');
    }
    if (fields !== undefined) t.match(error, fields);
    await stillServes(t);
    await until(() => server.connections().length === 0);
    t.pass('no connection left behind');
  });
}

t.test('a peer that sends garbage after the handshake gets a coded error on the socket', async (t) => {
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const client = connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect', SOON);
  const [peer] = await accepted;
  const failed = waitFor<[CodedError]>(peer, 'error', SOON);
  // A well-formed application-data record header with a body that cannot decrypt.
  client.transport.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x40]), Buffer.alloc(0x40, 0x55)]));
  const [error] = await failed;
  t.equal(error.code, 'ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC');
  t.equal(error.reason, 'decryption failed or bad record mac');
  await closed(peer);
  await stillServes(t);
});

t.test('without an error listener, a broken established socket does not crash the process', async (t) => {
  const accepted = new Promise<TLSSocket>((resolve) => server.prependOnceListener('secureConnection', resolve));
  const client = connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
  });
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect', SOON);
  const peer = await accepted;
  peer.removeAllListeners('error');
  client.transport.write(Buffer.alloc(64, 0xff));
  await closed(peer);
  t.match(peer.destroyReason, { code: /^ERR_SSL_/ }, 'the reason is kept in destroyReason');
  await stillServes(t);
});

t.test('our client facing a server that speaks garbage gets a coded error', async (t) => {
  const liar = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end(Buffer.alloc(100, 0x41)));
  });
  const liarPort = await listen(t, liar);
  const client = connect({ port: liarPort, host: '127.0.0.1', servername: 'localhost', ca: certs.ca });
  t.teardown(() => client.destroy());
  const [error] = await waitFor<[CodedError]>(client, 'error', SOON);
  t.equal(error.code, 'ERR_SSL_WRONG_VERSION_NUMBER');

  const hangUp = net.createServer((socket) => socket.once('data', () => socket.end()));
  const hangUpPort = await listen(t, hangUp);
  const second = connect({ port: hangUpPort, host: '127.0.0.1', servername: 'localhost', ca: certs.ca });
  t.teardown(() => second.destroy());
  const [eof] = await waitFor<[CodedError]>(second, 'error', SOON);
  t.equal(eof.code, 'ERR_SSL_UNEXPECTED_EOF_WHILE_READING', 'a server that hangs up mid-handshake');
});
