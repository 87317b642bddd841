// Attack: two attachments on one HTTP/2 server (a tenant's and a fleet-wide one). The one attached
// second (on top) maps a connection's HTTP/2 session to its own view of the connection only while
// its own hand-over of 'secureConnection' is running (`emitting`). When the attachment beneath
// it decides asynchronously (it has a policy), node creates the session later, in that lower
// attachment's hand-over: the top attachment never learns the session, so it never tracks the
// connection's streams. When the top attachment then holds the connection (a decision pending,
// lapsed, or a denial kept open), what the app writes to an open stream (respond(), write())
// goes straight through the session to the held peer.
// A correct library holds every open stream of a held connection, whichever attachment holds it:
// nothing of a response reaches the peer before that attachment's decision allows.
// Attack class: other read/write paths around the gate / stacked interception.
import t from 'tap';
import * as http2 from 'node:http2';
import { attach } from '../dist/index.js';
import { listen } from './helpers/owned';
import { delay, makePki } from './helpers/mtls';

t.test('a stream of a connection held by the top attachment sends nothing', async (t) => {
  const pki = await makePki();
  const server = http2.createSecureServer({
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.on('sessionError', () => {});
  let serverStream: http2.ServerHttp2Stream | undefined;
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  server.on('stream', (stream) => {
    serverStream ??= stream;
    stream.on('error', () => {});
    stream.on('data', () => opened());
  });
  const options = { ca: pki.ca.rootCert, intermediates: pki.ca.issuerChain, reauthorize: { every: 0 } };
  // Beneath: decides through an (asynchronous) policy. On top: no policy yet.
  const lower = attach(server, { ...options, policy: async () => true, policyTimeout: 5_000 });
  const upper = attach(server, { ...options, policyTimeout: 5_000 });
  t.teardown(() => {
    upper.detach();
    lower.detach();
  });
  const port = await listen(t, server);
  const session = http2.connect(`https://localhost:${port}`, {
    host: '127.0.0.1',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
  });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  const upload = session.request({ ':path': '/call', ':method': 'POST' });
  upload.on('error', () => {});
  let headers: http2.IncomingHttpHeaders | undefined;
  let answered = '';
  upload.on('response', (h) => (headers = h));
  upload.on('data', (chunk: Buffer) => (answered += chunk.toString()));
  upload.write('before;');
  await open;

  // The top attachment holds the connection on a decision that will deny.
  let settle!: (allow: boolean) => void;
  const decided = upper.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  await delay(50);
  serverStream!.respond({ ':status': 200, 'x-account': 'secret' });
  serverStream!.write('secret-body;');
  await delay(200);
  t.equal(headers, undefined, 'no response headers reach the held peer');
  t.equal(answered, '', 'no response body reaches the held peer');
  settle(false);
  await decided;
});
