// Attack: node's HTTP/2 server reads the TLS handle natively and its session restarts reading from
// C++ on its own (whenever one of its writes completes, its own WINDOW_UPDATE or SETTINGS frames
// included), so the attached tier's read hold (readStop) does not stop it. The tier gates the
// server-level 'stream' event (a new request), but a stream the app already holds (a gRPC-style
// bidirectional call, a streamed upload) keeps receiving the peer's DATA frames:
//  1. while a re-decision that must hold data is pending (a policy change here; a trust change, a
//     CRL update or a fleet revocation alike): the app consumes bytes of a peer about to be denied;
//  2. after the connection was denied and kept open (`destroyOnDeny: false`), the state in which
//     "nothing reaches the application by any path" is promised (docs/api.md, attach()).
// The documented limitation covers only listeners on the session itself (`session.on('stream')`).
// A correct library delivers no byte of a held or denied connection to the application, whether it
// comes on a new stream or an open one, or closes what it cannot hold (fail closed).
// Attack class: other read paths (consumers that read the handle natively; pausing is not holding).
import t, { type Test } from 'tap';
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import { attach, reauthorize, type Attachment, type Policy } from '../dist/index.js';
import { listen } from './helpers/owned';
import { delay, makePki } from './helpers/mtls';

interface Call {
  attachment: Attachment;
  socket: tls.TLSSocket;
  upload: http2.ClientHttp2Stream;
  serverStream: () => http2.ServerHttp2Stream;
  received: () => string;
}

/** An attached HTTP/2 server with one open bidirectional call, whose first chunk was delivered. */
async function openCall(t: Test, policy: Policy): Promise<Call> {
  const pki = await makePki();
  let received = '';
  let serverStream: http2.ServerHttp2Stream | undefined;
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const server = http2.createSecureServer({
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.on('sessionError', () => {});
  server.on('stream', (stream) => {
    serverStream = stream;
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
    stream.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      opened();
    });
  });
  const attachment = attach(server, {
    ca: pki.ca.rootCert,
    intermediates: pki.ca.issuerChain,
    policy,
    reauthorize: { every: 0 },
  });
  t.teardown(() => attachment.detach());
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
  upload.on('data', () => {});
  upload.write('before;');
  await open;
  return {
    attachment,
    socket: attachment.connections()[0]!.socket,
    upload,
    serverStream: () => serverStream!,
    received: () => received,
  };
}

t.test('http2: an open stream delivers the peer data while a holding re-decision is pending', async (t) => {
  const call = await openCall(t, () => true);
  t.equal(call.received(), 'before;', 'the allowed peer is served');

  // A policy change: the re-decision holds the connection's data until it concludes.
  let settle!: (allow: boolean) => void;
  const decided = call.attachment.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  await delay(50);
  call.upload.write('during-pending');
  await delay(300);
  t.equal(call.received(), 'before;', 'nothing reaches the application while the decision is pending');
  settle(false);
  t.match(await decided, [{ allow: false }]);
});

t.test('http2: an open stream still delivers the peer data after a kept-open denial', async (t) => {
  let allow = true;
  const call = await openCall(t, () => allow);
  t.equal(call.received(), 'before;', 'the allowed peer is served');

  allow = false;
  const decision = await reauthorize(call.socket, { destroyOnDeny: false });
  t.equal(decision.allow, false, 'the peer is denied, the connection kept open');

  // The app answers once on the stream it holds (a response chunk, a heartbeat), then the peer
  // sends. (Without this write it fails the same: the session's own frames restart reading.)
  call.serverStream().write('ack');
  await delay(50);
  call.upload.write('after-deny');
  await delay(300);
  t.equal(call.received(), 'before;', 'nothing the denied peer sends reaches the application');
});
