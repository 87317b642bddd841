// Attack: an attachment links an HTTP/2 session to its connection only if node's 'session' event
// reaches the attachment's emit wrapper while some attachment is inside the connection's
// 'secureConnection' hand-over (the module-level `handingOver`). An app's own emit wrapper put on
// top of the server after attach() (instrumentation, an event queue) that passes 'session' on a
// tick later breaks that timing: the attachment sees the session with nothing being handed over
// and never links it, so none of the connection's streams is tracked. When the attachment then
// holds the connection (a decision pending on a policy, a lapse, a denial kept open), what the app
// writes to an open stream (respond(), write()) goes through the session to the held peer.
// A correct library finds a stream's connection whenever 'session' arrives (the session's socket
// leads to the TLS socket), and holds every open stream of a held connection.
// Attack class: other read/write paths around the gate / stacked interception (app emit wrapper).
import t from 'tap';
import * as http2 from 'node:http2';
import { attach } from '../dist/index.js';
import { listen } from './helpers/owned';
import { delay, makePki } from './helpers/mtls';

t.test("a held connection's stream sends nothing when an app wrapper passes 'session' on later", async (t) => {
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
      process.nextTick(() => Reflect.apply(beneath, this, [event, ...args]));
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
