// Attack: the last fix links an HTTP/2 session to its attached connection when node's 'session'
// event reaches the attachment (reading the connection through session.socket), and a stream is
// tracked only if its session is linked at the moment its 'stream' event passes. The link still
// depends on *when* 'session' arrives: an app's own emit wrapper on top of the server that passes
// 'session' on later than a tick (an async instrumentation queue, a setTimeout/setImmediate, an
// await on I/O) lets the peer's first streams through unlinked. They are never tracked, not even
// once 'session' finally arrives, so when the attachment later holds the connection (a decision
// pending, a lapse, a denial kept open) the app's respond()/write() on those streams reach the
// held peer: response headers and body the policy has not allowed.
// A correct library finds a stream's connection when the stream arrives (stream.session.socket
// leads to the TLS socket), independent of whether or when 'session' was seen, and holds every
// open stream of a held connection.
// Attack class: other read/write paths around the gate / stacked interception (app emit wrapper).
import t from 'tap';
import * as http2 from 'node:http2';
import { attach } from '../dist/index.js';
import { listen } from './helpers/owned';
import { delay, makePki } from './helpers/mtls';

t.test("a held connection's early stream sends nothing when an app wrapper passes 'session' on after it", async (t) => {
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
  const attachment = attach(server, {
    ca: pki.ca.rootCert,
    intermediates: pki.ca.issuerChain,
    reauthorize: { every: 0 },
    policyTimeout: 5_000,
  });
  t.teardown(() => attachment.detach());
  // The app's own wrapper: 'session' (for its instrumentation) is passed on a tick later.
  const beneath = server.emit;
  server.emit = function (this: http2.Http2SecureServer, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'session') {
      setTimeout(() => Reflect.apply(beneath, this, [event, ...args]), 150);
      return true;
    }
    return Reflect.apply(beneath, this, [event, ...args]) as boolean;
  } as typeof server.emit;
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
  // By now the deferred 'session' has reached the attachment too: the session is linked.
  await delay(250);

  // The attachment holds the connection on a decision that will deny.
  let settle!: (allow: boolean) => void;
  const decided = attachment.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  await delay(50);
  serverStream!.respond({ ':status': 200, 'x-account': 'secret' });
  serverStream!.write('secret-body;');
  await delay(200);
  t.equal(headers, undefined, 'no response headers reach the held peer');
  t.equal(answered, '', 'no response body reaches the held peer');
  settle(false);
  await decided;
});
