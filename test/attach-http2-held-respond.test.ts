// An HTTP/2 stream's response headers, and a file sent with respondWithFile(), go out through the
// session natively, past the stream's _write. On a held attached connection they must wait like the
// stream's data: nothing of a response reaches a peer whose decision is pending, lapsed or denied.
import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http2 from 'node:http2';
import type { IncomingHttpHeaders } from 'node:http2';
import { attach } from '../dist/index.js';
import { listen } from './helpers/owned';
import { openCall, type Call } from './helpers/attached-http2';
import { delay, makePki } from './helpers/mtls';

/** The client's response headers, once they arrive. */
function responseOf(call: Call): () => IncomingHttpHeaders | undefined {
  let headers: IncomingHttpHeaders | undefined;
  call.upload.once('response', (h) => (headers = h));
  return () => headers;
}

/** Holds the call's connection on a decision that waits for `settle`. */
function hold(call: Call): { settle: (allow: boolean) => void; decided: Promise<unknown> } {
  let settle!: (allow: boolean) => void;
  const decided = call.attachment.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  return { settle: (allow) => settle(allow), decided };
}

async function until(done: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await delay(10);
}

t.test('response headers and body wait for the decision, then pass in order', async (t) => {
  const call = await openCall(t, () => true, { respond: false });
  const response = responseOf(call);
  const { settle, decided } = hold(call);
  await delay(50);
  call.serverStream().respond({ ':status': 200, 'x-account': 'secret' });
  call.serverStream().write('body;');
  await delay(200);
  t.equal(response(), undefined, 'no response headers reach the held peer');
  t.equal(call.answered(), '', 'nor its body');
  settle(true);
  t.match(await decided, [{ allow: true }]);
  await until(() => response() !== undefined && call.answered() === 'body;');
  t.equal(response()?.['x-account'], 'secret', 'the headers pass once allowed');
  t.equal(call.answered(), 'body;', 'then the body');
});

t.test('a denial leaves the held peer without the response', async (t) => {
  const call = await openCall(t, () => true, { respond: false });
  const response = responseOf(call);
  const { settle, decided } = hold(call);
  await delay(50);
  call.serverStream().additionalHeaders({ ':status': 103, link: '</secret>; rel=preload' });
  call.serverStream().respond({ ':status': 200, 'x-account': 'secret' });
  call.serverStream().end('body;');
  let informational = false;
  call.upload.on('headers', () => (informational = true));
  await delay(100);
  settle(false);
  t.match(await decided, [{ allow: false }]);
  await until(() => call.socket.destroyed);
  await delay(100);
  t.equal(call.socket.destroyed, true, 'the denied connection is closed');
  t.equal(response(), undefined, 'the response never reached the peer');
  t.equal(informational, false, 'nor the informational headers');
  t.equal(call.answered(), '');
});

t.test('respondWithFile() waits too: the file is not sent to a held peer', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-h2-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'secret.txt');
  writeFileSync(file, 'file-contents;');
  const call = await openCall(t, () => true, { respond: false });
  const response = responseOf(call);
  const { settle, decided } = hold(call);
  await delay(50);
  call.serverStream().respondWithFile(file, { 'content-type': 'text/plain' });
  await delay(200);
  t.equal(response(), undefined, 'no headers');
  t.equal(call.answered(), '', 'no file bytes');
  settle(true);
  await decided;
  await until(() => call.answered() === 'file-contents;');
  t.equal(call.answered(), 'file-contents;', 'the file passes once allowed');
});

t.test('while a response is parked the stream counts its headers as sent', async (t) => {
  const call = await openCall(t, () => true, { respond: false });
  const stream = call.serverStream();
  const response = responseOf(call);
  const { settle, decided } = hold(call);
  await delay(50);
  stream.respond({ ':status': 200, 'x-first': '1' });
  t.equal(stream.headersSent, true, 'headersSent, as without the hold');
  // A second response throws at once, as it would without the hold, not later at the release.
  t.throws(() => stream.respond({ ':status': 500 }), { code: 'ERR_HTTP2_HEADERS_SENT' });
  t.throws(() => stream.additionalHeaders({ ':status': 103 }), { code: 'ERR_HTTP2_HEADERS_AFTER_RESPOND' });
  stream.end('body;');
  settle(true);
  await decided;
  await until(() => call.answered() === 'body;');
  t.equal(response()?.['x-first'], '1', 'the first response is the one sent');
  t.equal(call.answered(), 'body;');
});

t.test('a parked respond() that fails when released resets the stream, it does not crash', async (t) => {
  const call = await openCall(t, () => true, { respond: false });
  const stream = call.serverStream();
  stream.removeAllListeners('error');
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  t.teardown(() => process.removeListener('warning', onWarning));
  const { settle, decided } = hold(call);
  await delay(50);
  // Node checks the status when the headers are built: parked, that is at the release.
  stream.respond({ ':status': 99 });
  settle(true);
  await decided;
  await until(() => stream.destroyed);
  t.equal(stream.destroyed, true, 'the stream is reset');
  t.match(
    warnings.map((w) => (w as { code?: string }).code),
    ['ERR_HTTP2_STATUS_INVALID'],
    'and the error is a process warning',
  );
  t.equal(call.socket.destroyed, false, 'the connection stays');
});

t.test("node's compatibility API writes a held response once, however many writes", async (t) => {
  const pki = await makePki();
  let response: http2.Http2ServerResponse | undefined;
  const server = http2.createSecureServer(
    { key: pki.server.key, cert: pki.server.chain, ca: pki.ca.rootCert, requestCert: true },
    (_req, res) => (response = res),
  );
  server.on('sessionError', () => {});
  const attachment = attach(server, {
    ca: pki.ca.rootCert,
    intermediates: pki.ca.issuerChain,
    policy: () => true,
    policyTimeout: 5_000,
    reauthorize: { every: 0 },
  });
  t.teardown(() => attachment.detach());
  const port = await listen(t, server);
  const session = http2.connect(`https://localhost:${port}`, {
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
  });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  const request = session.request({ ':path': '/' });
  request.on('error', () => {});
  let status: unknown;
  let body = '';
  request.on('response', (headers) => (status = headers[':status']));
  request.on('data', (chunk: Buffer) => (body += chunk.toString()));
  await until(() => response !== undefined);
  let settle!: (allow: boolean) => void;
  const decided = attachment.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  await delay(50);
  const res = response!;
  res.setHeader('x-account', 'secret');
  res.write('a;');
  res.write('b;');
  res.end('c;');
  await delay(200);
  t.equal(status, undefined, 'nothing of the response reaches the held peer');
  settle(true);
  await decided;
  await until(() => body === 'a;b;c;');
  t.equal(status, 200);
  t.equal(body, 'a;b;c;', 'the whole response, once');
});

t.test('a push node refuses at once is refused at the call on a held stream too, not later', async (t) => {
  const call = await openCall(t, () => true, { respond: false });
  const stream = call.serverStream();
  const { settle, decided } = hold(call);
  await delay(50);
  const noCallback = undefined as never;
  t.throws(() => stream.pushStream({ ':path': '/x' }, noCallback), { code: 'ERR_INVALID_ARG_TYPE' }, 'no callback');
  // The client turns push off; once its SETTINGS arrive the server's stream no longer allows it.
  call.session.settings({ enablePush: false });
  await until(() => stream.pushAllowed === false);
  t.equal(stream.pushAllowed, false);
  let answered = false;
  t.throws(
    () => stream.pushStream({ ':path': '/x' }, () => (answered = true)),
    { code: 'ERR_HTTP2_PUSH_DISABLED' },
    'push disabled by the peer',
  );
  settle(true);
  await decided;
  await delay(50);
  t.equal(answered, false, 'nothing was parked to answer later');
});
