/** An attached HTTP/2 server with one open bidirectional call, for the attached tier's hold tests. */
import type { Test } from 'tap';
import * as http2 from 'node:http2';
import type * as tls from 'node:tls';
import { attach, type Attachment, type Policy } from '../../dist/index.js';
import { listen } from './owned';
import { makePki } from './mtls';

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
}

export interface CallOptions {
  /** Whether the server's app responds as soon as the call opens (default true). */
  respond?: boolean;
}

/** Opens the call and waits until its first chunk ('before;') reached the server's app. */
export async function openCall(t: Test, policy: Policy, options: CallOptions = {}): Promise<Call> {
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
  const attachment = attach(server, {
    ca: pki.ca.rootCert,
    intermediates: pki.ca.issuerChain,
    policy,
    policyTimeout: 5_000,
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
  };
}
