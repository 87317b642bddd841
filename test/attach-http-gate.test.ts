// The attached tier in front of node's HTTP servers, which read the TLS handle natively (no
// 'data' event to pause): a connection whose decision is not allow gets no request handler and no
// response byte. Before the first decision node's own connection handling does not start; during a
// later pending decision the handle stops reading. HTTP/2 likewise: no stream for a denied connection.
import t, { type Test } from 'tap';
import * as https from 'node:https';
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import { attach, type Attachment, type AuthorizationInput } from '../dist/index.js';
import { closed, listen, waitFor } from './helpers/owned';
import { delay, makePki, type Pki } from './helpers/mtls';

const WATCH_MS = 150;

/** A policy that answers `answer` unless the test makes the next calls wait. */
class Gatekeeper {
  answer: boolean | Promise<boolean> = true;
  #called: (() => void) | null = null;
  policy = (_input: AuthorizationInput): boolean | Promise<boolean> => {
    this.#called?.();
    return this.answer;
  };

  hold(): { asked: Promise<void>; settle: (allow: boolean) => void } {
    let settle!: (allow: boolean) => void;
    this.answer = new Promise<boolean>((resolve) => (settle = resolve));
    const asked = new Promise<void>((resolve) => (this.#called = resolve));
    return { asked, settle: (allow) => ((this.#called = null), settle(allow), (this.answer = allow)) };
  }
}

function tlsOptions(pki: Pki): tls.TlsOptions {
  return {
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
    rejectUnauthorized: true,
  };
}

async function httpsServer(
  t: Test,
  pki: Pki,
): Promise<{
  server: https.Server;
  attachment: Attachment;
  gate: Gatekeeper;
  port: number;
  handled: string[];
  uploaded: { body: string };
}> {
  const handled: string[] = [];
  const uploaded = { body: '' };
  const server = https.createServer(tlsOptions(pki), (request, response) => {
    handled.push(request.url ?? '');
    if (request.url !== '/upload') {
      response.end(`hello ${request.url}`);
      return;
    }
    // An upload handler with backpressure: each chunk is "written somewhere slow" before the next,
    // so node's HTTP server resumes the socket during the upload (request.resume()).
    request.on('data', (chunk: Buffer) => {
      uploaded.body += String(chunk);
      request.pause();
      setTimeout(() => request.resume(), 5);
    });
    request.on('end', () => response.end('stored'));
  });
  const gate = new Gatekeeper();
  const attachment = attach(server, {
    ca: pki.ca.rootCert,
    intermediates: pki.ca.issuerChain,
    policy: gate.policy,
    policyTimeout: 60_000,
    reauthorize: { every: 0 },
  });
  t.teardown(() => attachment.detach());
  return { server, attachment, gate, port: await listen(t, server), handled, uploaded };
}

/** A raw TLS client speaking HTTP/1.1 by hand, so every response byte is seen. */
class RawClient {
  readonly socket: tls.TLSSocket;
  received = '';
  constructor(t: Test, port: number, pki: Pki) {
    this.socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: pki.ca.rootCert,
      key: pki.client.key,
      cert: pki.client.chain,
      ALPNProtocols: ['http/1.1'],
    });
    this.socket.on('error', () => {});
    this.socket.on('data', (chunk: Buffer) => (this.received += String(chunk)));
    t.teardown(() => this.socket.destroy());
  }

  get(path: string): void {
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  }

  async until(pattern: RegExp, ms = 10_000): Promise<void> {
    const started = Date.now();
    while (!pattern.test(this.received)) {
      if (Date.now() - started > ms) throw new Error(`received ${JSON.stringify(this.received)}`);
      await delay(5);
    }
  }
}

t.test('https: an asynchronously denied connection runs no handler and gets no response byte', async (t) => {
  const pki = await makePki();
  const { server, gate, port, handled } = await httpsServer(t, pki);
  const pending = gate.hold();
  const client = new RawClient(t, port, pki);
  await waitFor(client.socket, 'secureConnect');
  await pending.asked;
  client.get('/denied');
  await delay(WATCH_MS);
  t.same(handled, [], 'no handler while the decision is pending');
  const decided = waitFor(server, 'decision');
  pending.settle(false);
  await decided;
  await closed(client.socket);
  t.same(handled, [], 'no handler once denied');
  t.equal(client.received, '', 'not one response byte');
});

t.test('https: an asynchronously allowed connection is served what it sent meanwhile', async (t) => {
  const pki = await makePki();
  const { gate, port, handled } = await httpsServer(t, pki);
  const pending = gate.hold();
  const client = new RawClient(t, port, pki);
  await waitFor(client.socket, 'secureConnect');
  await pending.asked;
  client.get('/early');
  await delay(WATCH_MS);
  t.same(handled, []);
  pending.settle(true);
  await client.until(/hello \/early/);
  t.same(handled, ['/early']);
  t.match(client.received, /^HTTP\/1\.1 200/);
});

t.test('https keep-alive: a request during a pending re-check waits for it, and never runs if denied', async (t) => {
  const pki = await makePki();
  const { attachment, gate, port, handled } = await httpsServer(t, pki);
  const client = new RawClient(t, port, pki);
  client.get('/one');
  await client.until(/hello \/one/);

  let pending = gate.hold();
  const allowed = attachment.setPolicy(gate.policy);
  await pending.asked;
  // App code pausing and resuming the socket (node's HTTP server then stops and restarts reading the
  // handle) changes nothing.
  const socket = attachment.connections()[0]!.socket;
  socket.pause();
  socket.resume();
  client.get('/two');
  await delay(WATCH_MS);
  t.same(handled, ['/one'], 'held while the re-check is pending');
  pending.settle(true);
  t.match(await allowed, [{ allow: true }]);
  await client.until(/hello \/two/);
  t.same(handled, ['/one', '/two'], 'served on allow');

  pending = gate.hold();
  const denied = attachment.setPolicy(gate.policy);
  await pending.asked;
  const before = client.received;
  client.get('/three');
  await delay(WATCH_MS);
  pending.settle(false);
  t.match(await denied, [{ allow: false }]);
  await closed(client.socket);
  t.same(handled, ['/one', '/two'], 'never handled');
  t.equal(client.received, before, 'no response byte after the hold began');
});

t.test('https upload: a handler resuming the request during a pending re-check gets no more of the body', async (t) => {
  const pki = await makePki();
  const { attachment, gate, port, uploaded } = await httpsServer(t, pki);
  const client = new RawClient(t, port, pki);
  client.socket.write('POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n');
  const started = Date.now();
  while (uploaded.body !== 'a') {
    if (Date.now() - started > 10_000) throw new Error('the first chunk never arrived');
    await delay(5);
  }
  const pending = gate.hold();
  const denied = attachment.setPolicy(gate.policy);
  await pending.asked;
  client.socket.write('1\r\nb\r\n');
  await delay(WATCH_MS);
  t.equal(uploaded.body, 'a', 'held while the re-check is pending, though the handler resumed the request');
  pending.settle(false);
  t.match(await denied, [{ allow: false }]);
  await closed(client.socket);
  t.equal(uploaded.body, 'a', 'never delivered');
  t.equal(client.received, '', 'no response');
});

async function http2Server(
  t: Test,
  pki: Pki,
): Promise<{
  server: http2.Http2SecureServer;
  attachment: Attachment;
  gate: Gatekeeper;
  port: number;
  streams: string[];
}> {
  const streams: string[] = [];
  const server = http2.createSecureServer(tlsOptions(pki));
  server.on('stream', (stream, headers) => {
    streams.push(String(headers[':path']));
    stream.respond({ ':status': 200 });
    stream.end(`hello ${headers[':path']}`);
  });
  server.on('sessionError', () => {});
  const gate = new Gatekeeper();
  const attachment = attach(server, {
    ca: pki.ca.rootCert,
    intermediates: pki.ca.issuerChain,
    policy: gate.policy,
    policyTimeout: 60_000,
    reauthorize: { every: 0 },
  });
  t.teardown(() => attachment.detach());
  return { server, attachment, gate, port: await listen(t, server), streams };
}

function http2Client(t: Test, port: number, pki: Pki): http2.ClientHttp2Session {
  const session = http2.connect(`https://localhost:${port}`, {
    host: '127.0.0.1',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
  });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  return session;
}

/** Sends a GET; resolves with the status and body, or with the error that ended it. */
function h2get(
  session: http2.ClientHttp2Session,
  path: string,
): Promise<{ status?: number; body: string; error?: Error }> {
  return new Promise((resolve) => {
    const request = session.request({ ':path': path });
    let status: number | undefined;
    let body = '';
    request.on('response', (headers) => (status = Number(headers[':status'])));
    request.on('data', (chunk: Buffer) => (body += String(chunk)));
    request.on('end', () => resolve({ ...(status === undefined ? {} : { status }), body }));
    request.on('error', (error: Error) => resolve({ ...(status === undefined ? {} : { status }), body, error }));
    request.on('close', () => resolve({ ...(status === undefined ? {} : { status }), body }));
    request.end();
  });
}

t.test('http2: a denied connection gets no stream handler; an allowed one is served', async (t) => {
  const pki = await makePki();
  const { server, gate, port, streams } = await http2Server(t, pki);

  let pending = gate.hold();
  const denied = http2Client(t, port, pki);
  const deniedAnswer = h2get(denied, '/denied');
  await pending.asked;
  await delay(WATCH_MS);
  t.same(streams, [], 'no stream while the decision is pending');
  const decided = waitFor(server, 'decision');
  pending.settle(false);
  await decided;
  const answer = await deniedAnswer;
  t.equal(answer.status, undefined, 'no response');
  t.equal(answer.body, '');
  t.same(streams, [], 'no stream handler for the denied connection');

  pending = gate.hold();
  const allowed = http2Client(t, port, pki);
  const allowedAnswer = h2get(allowed, '/allowed');
  await pending.asked;
  pending.settle(true);
  t.match(await allowedAnswer, { status: 200, body: 'hello /allowed' });
  t.same(streams, ['/allowed']);
});

t.test('http2: a request during a pending re-check waits for it, and never runs if denied', async (t) => {
  const pki = await makePki();
  const { attachment, gate, port, streams } = await http2Server(t, pki);
  const session = http2Client(t, port, pki);
  t.match(await h2get(session, '/one'), { status: 200 });

  const pending = gate.hold();
  const denied = attachment.setPolicy(gate.policy);
  await pending.asked;
  const answer = h2get(session, '/two');
  await delay(WATCH_MS);
  t.same(streams, ['/one'], 'held while the re-check is pending');
  pending.settle(false);
  t.match(await denied, [{ allow: false }]);
  t.match(await answer, { body: '' });
  t.equal((await answer).status, undefined, 'no response');
  t.same(streams, ['/one'], 'never handled');
});
