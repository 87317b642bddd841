/** An attached HTTP/2 server with one open bidirectional call, for the attached tier's hold tests. */
import type { Test } from 'tap';
import * as http2 from 'node:http2';
import type * as tls from 'node:tls';
import { attach, type Attachment, type AttachOptions, type Policy } from '../../dist/index.js';
import { listen } from './owned';
import { delay, makePki } from './mtls';

export interface Call {
  attachment: Attachment;
  /** The server's side of the connection. */
  socket: tls.TLSSocket;
  session: http2.ClientHttp2Session;
  /** The server's session of the connection. */
  serverSession: () => http2.ServerHttp2Session;
  /** The client's stream of the call. */
  upload: http2.ClientHttp2Stream;
  serverStream: () => http2.ServerHttp2Stream;
  /** What the server's app read from the call so far. */
  received: () => string;
  /** What the client read from the call so far. */
  answered: () => string;
  /** The response headers the client received, if any. */
  responseHeaders: () => http2.IncomingHttpHeaders | undefined;
}

export interface CallOptions {
  /** Whether the server's app responds as soon as the call opens (default true). */
  respond?: boolean;
  /**
   * Attaches in place of one attach() with the call's policy, for stacked attachments: returns the
   * attachment the test holds with, and detaches whatever else it attached at teardown.
   */
  attach?: (server: http2.Http2SecureServer, options: AttachOptions, t: Test) => Attachment;
  /** Runs once attached, before the server listens: an app's own emit wrapper, say. */
  setup?: (server: http2.Http2SecureServer) => void;
}

/** Opens the call and waits until its first chunk ('before;') reached the server's app. */
export async function openCall(t: Test, policy: Policy | undefined, options: CallOptions = {}): Promise<Call> {
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
    rejectUnauthorized: true,
  });
  server.on('sessionError', () => {});
  let serverSession: http2.ServerHttp2Session | undefined;
  server.on('session', (session) => (serverSession ??= session));
  server.on('stream', (stream) => {
    serverStream ??= stream;
    stream.on('error', () => {});
    if (options.respond !== false) stream.respond({ ':status': 200 });
    stream.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      opened();
    });
  });
  const attachOptions: AttachOptions = {
    ca: pki.ca.rootCert,
    intermediates: pki.ca.issuerChain,
    ...(policy !== undefined && { policy }),
    policyTimeout: 5_000,
    reauthorize: { every: 0 },
  };
  const attachment = options.attach ? options.attach(server, attachOptions, t) : attach(server, attachOptions);
  t.teardown(() => attachment.detach());
  options.setup?.(server);
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
  let responseHeaders: http2.IncomingHttpHeaders | undefined;
  upload.on('response', (headers) => (responseHeaders = headers));
  upload.on('data', (chunk: Buffer) => (answered += chunk.toString()));
  upload.write('before;');
  await open;
  return {
    attachment,
    socket: attachment.connections()[0]!.socket,
    session,
    serverSession: () => serverSession!,
    upload,
    serverStream: () => serverStream!,
    received: () => received,
    answered: () => answered,
    responseHeaders: () => responseHeaders,
  };
}

/**
 * Holds the call's connection on a decision of `holder` (the call's attachment by default) that
 * will deny, has the server's app respond and write on the open stream meanwhile, and tells what of
 * it reached the held peer before the denial: nothing, from a correct library.
 */
export async function respondWhileHeld(
  call: Call,
  holder: Attachment = call.attachment,
): Promise<{ headers: http2.IncomingHttpHeaders | undefined; answered: string }> {
  let settle!: (allow: boolean) => void;
  const decided = holder.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  await delay(50);
  call.serverStream().respond({ ':status': 200, 'x-account': 'secret' });
  call.serverStream().write('secret-body;');
  await delay(200);
  const seen = { headers: call.responseHeaders(), answered: call.answered() };
  settle(false);
  await decided;
  return seen;
}
