// The attached tier holds an open HTTP/2 stream with its connection: what the peer sends on it, and
// what the app writes to it, wait while a decision is pending and pass, in order, once it allows.
// A peer that opens streams without end while held is cut, not queued without bound.
import t, { type Test } from 'tap';
import * as http2 from 'node:http2';
import { attach, reauthorize, type Attachment, type Policy } from '../dist/index.js';
import { listen } from './helpers/owned';
import { delay, makePki } from './helpers/mtls';

interface Call {
  attachment: Attachment;
  session: http2.ClientHttp2Session;
  upload: http2.ClientHttp2Stream;
  serverStream: () => http2.ServerHttp2Stream;
  received: () => string;
  answered: () => string;
}

async function openCall(t: Test, policy: Policy): Promise<Call> {
  const pki = await makePki();
  let received = '';
  let answered = '';
  let serverStream: http2.ServerHttp2Stream | undefined;
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const server = http2.createSecureServer({
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
  });
  server.on('sessionError', () => {});
  server.on('stream', (stream) => {
    serverStream ??= stream;
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
    policyTimeout: 5_000,
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
  upload.on('data', (chunk: Buffer) => (answered += chunk.toString()));
  upload.write('before;');
  await open;
  return {
    attachment,
    session,
    upload,
    serverStream: () => serverStream!,
    received: () => received,
    answered: () => answered,
  };
}

t.test('a held stream delivers, in order, what waited once the decision allows', async (t) => {
  const call = await openCall(t, () => true);
  let settle!: (allow: boolean) => void;
  const decided = call.attachment.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  await delay(50);
  call.upload.write('during;');
  call.serverStream().write('reply-during;');
  await delay(200);
  t.equal(call.received(), 'before;', 'the peer data waits');
  t.equal(call.answered(), '', 'and so does the reply');
  settle(true);
  t.match(await decided, [{ allow: true }]);
  call.upload.write('after;');
  call.serverStream().write('reply-after;');
  const deadline = Date.now() + 5_000;
  while (
    (call.received() !== 'before;during;after;' || call.answered() !== 'reply-during;reply-after;') &&
    Date.now() < deadline
  )
    await delay(10);
  t.equal(call.received(), 'before;during;after;', 'every byte the peer sent, in order');
  t.equal(call.answered(), 'reply-during;reply-after;', 'every byte the app wrote, in order');
});

t.test('a peer that opens streams without end on a held connection is cut', async (t) => {
  let allow = true;
  const call = await openCall(t, () => allow);
  allow = false;
  const socket = call.attachment.connections()[0]!.socket;
  const decision = await reauthorize(socket, { destroyOnDeny: false });
  t.equal(decision.allow, false);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  for (let i = 0; i < 1100 && !call.session.destroyed; i++) {
    const stream = call.session.request({ ':path': `/s${i}` });
    stream.on('error', () => {});
    stream.end();
    if (i % 100 === 99) await delay(10);
  }
  await Promise.race([closed, delay(5_000)]);
  t.equal(socket.destroyed, true, 'the connection is closed');
  t.match((socket as { destroyReason?: { code?: string } }).destroyReason, { code: 'ERR_CTLS_HELD_LIMIT' });
});
