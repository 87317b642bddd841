/** An attached node:tls server and its mTLS connections, for the attached tier's tests. */
import type { Test } from 'tap';
import * as tls from 'node:tls';
import { attach, type Attachment, type AttachOptions, type DecisionEvent, type Policy } from '../../dist/index.js';
import { listen, waitFor } from './owned';
import { makePki, type Pki } from './mtls';

export interface AttachedConnection {
  attachment: Attachment;
  /** The handshake decision that admitted the connection (null: taken while it was pending). */
  decision: DecisionEvent | null;
  /** The server's side of the connection. */
  socket: tls.TLSSocket;
  client: tls.TLSSocket;
  /** What the client read so far. */
  received: () => string;
  /** What the server's app read from the connection so far (nothing, with an `onConnection` of the test's). */
  delivered: () => string;
  /** The error the server's side was destroyed with, if any. */
  error: () => Error | undefined;
  /** Settles at the server side's 'close' event (node emits 'error' before it). */
  closed: Promise<void>;
}

/** What a client presents: its key and the certificate chain it sends (the leaf alone, or with intermediates). */
export interface ClientIdentity {
  key: string;
  chain: string;
}

export interface AttachedServer {
  attachment: Attachment;
  /** The attached node:tls server (its emit is what node's HTTP parsers would call). */
  server: tls.Server;
  /** The port it listens on, at 127.0.0.1. */
  port: number;
  /** The server's and its clients' PKI (its CA is the attachment's trust, unless `trust` said otherwise). */
  pki: Pki;
  /**
   * A client connection (as `identity`, by default the PKI's client), once its handshake decision
   * was made: the first 'decision' event, allow or deny.
   */
  connect(identity?: ClientIdentity): Promise<AttachedConnection>;
  /** A client connection as soon as its handshake is done: its first decision may be pending. */
  connectPending(identity?: ClientIdentity): Promise<AttachedConnection>;
}

/** Every attach option but the trust (`ca`, `intermediates`: the helper's own PKI) and the policy. */
export type AttachSettings = Omit<AttachOptions, 'ca' | 'intermediates' | 'policy'>;

/** How the server differs from the default TLS 1.3 one on a fresh PKI, the attachment trusting its CA. */
export interface AttachedServerOptions {
  /** The PKI to serve and connect with (default: a fresh makePki()). */
  pki?: Pki;
  /** The highest TLS version, of the server and its clients (default TLSv1.3; TLSv1.2 to renegotiate). */
  maxVersion?: tls.SecureVersion;
  /** More node:tls server options (such as `secureOptions`, or `rejectUnauthorized: false`). */
  tlsOptions?: tls.TlsOptions;
  /**
   * The attachment's trust instead of the PKI's root and intermediates; a key given as undefined
   * (`{ intermediates: undefined }`) leaves that option out.
   */
  trust?: Partial<Pick<AttachOptions, 'ca' | 'intermediates'>>;
  /**
   * The app's connection handler instead of the helper's, which reads every connection at once
   * (for `delivered()`): for tests of who reads a connection, and when.
   */
  onConnection?: (socket: tls.TLSSocket) => void;
}

/**
 * An mTLS `node:tls` server attached with `policy` (undefined: none) and `settings` (such as a
 * re-check schedule); TLS 1.3 on a fresh PKI unless `options` say otherwise.
 */
export async function attachedServer(
  t: Test,
  policy: Policy | undefined,
  settings: AttachSettings = {},
  options: AttachedServerOptions = {},
): Promise<AttachedServer> {
  const pki = options.pki ?? (await makePki());
  const maxVersion = options.maxVersion ?? 'TLSv1.3';
  const delivered = new WeakMap<tls.TLSSocket, string>();
  const server = tls.createServer(
    {
      key: pki.server.key,
      cert: pki.server.chain,
      ca: pki.ca.rootCert,
      requestCert: true,
      rejectUnauthorized: true,
      maxVersion,
      ...options.tlsOptions,
    },
    options.onConnection ??
      ((socket) => {
        socket.on('error', () => {});
        socket.on('data', (chunk: Buffer) => delivered.set(socket, (delivered.get(socket) ?? '') + chunk.toString()));
      }),
  );
  const attachment = attach(server, {
    ...settings,
    ca: pki.ca.rootCert,
    intermediates: pki.ca.issuerChain,
    ...options.trust,
    policy,
  });
  t.teardown(() => attachment.detach());
  const port = await listen(t, server);

  async function open(admitted: boolean, identity: ClientIdentity = pki.client): Promise<AttachedConnection> {
    const decided = admitted ? waitFor<[DecisionEvent, tls.TLSSocket]>(server, 'decision') : undefined;
    const tracked = new Set(attachment.connections().map((c) => c.socket));
    const client = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: pki.ca.rootCert,
      key: identity.key,
      cert: identity.chain,
      maxVersion,
    });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    await waitFor(client, 'secureConnect');
    let decision: DecisionEvent | null = null;
    let socket: tls.TLSSocket | undefined;
    if (decided !== undefined) [decision, socket] = await decided;
    else {
      // The attachment tracks the connection from its handshake on, decided or not.
      const deadline = Date.now() + 2_000;
      while (socket === undefined && Date.now() < deadline) {
        socket = attachment.connections().find((c) => !tracked.has(c.socket))?.socket;
        if (socket === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      if (socket === undefined) throw new Error('the attachment never tracked the connection');
    }
    const side: tls.TLSSocket = socket;
    let error: Error | undefined;
    side.on('error', (err: Error) => (error ??= err));
    const closed = new Promise<void>((resolve) => side.once('close', () => resolve()));
    let received = '';
    client.on('data', (chunk: Buffer) => (received += chunk.toString()));
    return {
      attachment,
      decision,
      socket: side,
      client,
      received: () => received,
      delivered: () => delivered.get(side) ?? '',
      error: () => error,
      closed,
    };
  }

  return {
    attachment,
    server,
    port,
    pki,
    connect: (identity) => open(true, identity),
    connectPending: (identity) => open(false, identity),
  };
}

/**
 * A TLS 1.3 mTLS connection to a `node:tls` server attached with `policy` (and `settings`, such as
 * a re-check schedule), admitted by it.
 */
export async function attachedConnection(
  t: Test,
  policy: Policy,
  settings: AttachSettings = {},
): Promise<AttachedConnection & { decision: DecisionEvent }> {
  const server = await attachedServer(t, policy, settings);
  return (await server.connect()) as AttachedConnection & { decision: DecisionEvent };
}

export interface HeldByRecheck extends AttachedServer {
  /** The connection, held: its decision lapsed and the expiry re-check waits on `answer`. */
  connection: AttachedConnection;
  /** Settles the re-check in flight. */
  answer: (allow: boolean) => void;
}

/**
 * An attached connection held by a decision in flight: allowed for 200 ms, then its expiry
 * re-check waits on a policy answer the test gives. The state in which detach() lets a connection
 * go while its decision is still to come.
 */
export async function heldByRecheck(t: Test): Promise<HeldByRecheck> {
  let allow = true;
  let answer: ((allow: boolean) => void) | null = null;
  const attached = await attachedServer(
    t,
    () => (allow ? { allow: true, ttlMs: 200 } : new Promise<boolean>((resolve) => (answer = resolve))),
    { reauthorize: { every: 0, onExpiry: true } },
  );
  const connection = await attached.connect();
  allow = false;
  const deadline = Date.now() + 2_000;
  while (answer === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  if (answer === null) throw new Error('the expiry re-check never started');
  const settle: (allow: boolean) => void = answer;
  return { ...attached, connection, answer: (allowed) => settle(allowed) };
}
