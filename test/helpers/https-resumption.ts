/**
 * The plumbing of the REST-on-node:https attack tests (test/attack9*): an https.Server whose
 * handler is behind authorizeRequest(), and a client that opens a fresh TLS connection (resuming a
 * session if given), sends one raw GET and hands back the status with the session to resume next.
 * What makes each attack (the server's `ca`, `crl`, SNI contexts, the order of the requests) stays
 * in the test; only the connecting, listening and closing lives here.
 */
import https from 'node:https';
import * as tls from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { authorizeRequest } from '../../dist/http/authorize-request.js';
import { kGuardHost, type DecisionGuard, type GuardHost } from '../../dist/authz/guard.js';
import { certs } from './certs';
import { waitFor, SOON } from './owned';
import { rawHttp, type RawReply } from './raw-http';

export interface ServeOptions {
  /**
   * The server's TLS options. The fixture server identity (key and chain) and a required client
   * certificate (requestCert, rejectUnauthorized) are the defaults; anything given here wins.
   */
  tls?: https.ServerOptions;
  /** A decision guard (a fleet's revocations) joined to the authorizer, for the revocation attacks. */
  guard?: DecisionGuard;
  /** The body of an authorized answer ('ok' by default): `answerResumed` says whether TLS resumed. */
  answer?: (req: IncomingMessage) => string;
  /** Runs before the server listens: addContext(), ticket keys, keepAliveTimeout, listeners. */
  setup?: (server: https.Server) => void;
}

/**
 * An https.Server on 127.0.0.1 (an OS-chosen port) whose every request goes through an
 * authorizeRequest() that allows all (the library's trust checks and the guard alone refuse).
 * Its connections are cut and it is closed at teardown.
 */
export async function serveHttps(t: Test, options: ServeOptions = {}): Promise<{ server: https.Server; port: number }> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  if (options.guard) (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(options.guard);
  const answer = options.answer ?? (() => 'ok');
  const server = https.createServer(
    {
      key: certs.serverKey,
      cert: certs.serverChain,
      requestCert: true,
      rejectUnauthorized: true,
      ...options.tls,
    },
    authz.node((req, res) => res.end(answer(req))),
  );
  options.setup?.(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** An answer saying whether the connection resumed a session: `resumed=true` or `resumed=false`. */
export function answerResumed(req: IncomingMessage): string {
  return `resumed=${String((req.socket as tls.TLSSocket).isSessionReused())}`;
}

export interface ClientOptions {
  port: number;
  /**
   * The SNI to send. By default 'localhost', the fixture server certificate's name, which the client
   * then checks. Any other name (a tenant's; '' for an empty one) is sent without checking the
   * server's certificate against it, since tenants here share that certificate; null sends none
   * (a client reaching the server by IP address).
   */
  servername?: string | null;
  /** The client's key and chain: the fixture client's by default, a revoked or a cross-signed one for the attack. */
  key?: string;
  cert?: string;
  /** A session (ticket) to resume; a full handshake without it. */
  session?: Buffer;
  /** Pin the protocol: TLS 1.2 sessions resume without SNI selection, TLS 1.1 and 1.0 for legacy servers. */
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** Cipher list, e.g. 'DEFAULT@SECLEVEL=0' to reach TLS 1.0/1.1. */
  ciphers?: string;
}

/**
 * A tls.connect() client of the server on `port`, trusting the fixture CA; its errors are left to
 * whoever waits on it, and it is destroyed at teardown. Not yet connected.
 */
export function tlsClient(t: Test, options: ClientOptions): tls.TLSSocket {
  const { port, servername = 'localhost', key = certs.clientKey, cert = certs.clientChain, session } = options;
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    ...(servername !== null && { servername }),
    ...(options.servername !== undefined && { checkServerIdentity: () => undefined }),
    ...(options.minVersion && { minVersion: options.minVersion }),
    ...(options.maxVersion && { maxVersion: options.maxVersion }),
    ...(options.ciphers && { ciphers: options.ciphers }),
    ca: certs.ca,
    key,
    cert,
    ...(session && { session }),
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  return client;
}

export interface RequestOptions<S, R extends string> extends ClientOptions {
  /** The request target ('/' by default), for apps that route some paths around the authorizer. */
  path?: string;
  /** The Host header ('localhost' by default, as rawHttp sends it): tenants, an IP, '' for an empty one. */
  host?: string;
  /** How an answer reads in the test's assertions: its status code by default, see `statusAndBody`. */
  read?: (reply: RawReply) => S;
  /**
   * What a handshake that does not complete (an alert, a close, no answer in time) reads as. Without
   * it the request throws: the test expects every handshake to complete (TLS 1.3 clients finish
   * theirs before the server has judged their certificate, so a refusal then comes as 'closed').
   */
  refused?: R;
  /** How long the handshake may take (SOON by default), for servers that answer slowly on purpose. */
  handshakeTimeout?: number;
  /**
   * Close the connection once answered, this many ms later (0: at once), which lets a TLS 1.3
   * ticket, sent after the handshake, arrive first. Without it the connection stays open until
   * teardown.
   */
  closeAfter?: number;
  /** With closeAfter: wait those ms only if no ticket has come yet. */
  closeAfterOnlyWithoutTicket?: boolean;
  /**
   * The session handed back for resuming: the last the server sent ('ticket', the 'session'
   * event; the default), the connection's own at the end ('getSession', no 'session' listener),
   * or the first, else the second ('ticket ?? getSession').
   */
  sessionFrom?: 'ticket' | 'getSession' | 'ticket ?? getSession';
}

export interface Reply<T> {
  /** What `read` made of the answer; 'closed' when the connection closed without one. */
  status: T;
  /** The answer's body, when there was one. */
  body?: string;
  session?: Buffer;
}

/** An answer read as "status body": `200 resumed=true`, `403 certificate-revoked`. */
export function statusAndBody(reply: RawReply): string {
  return `${reply.status} ${String(reply.body)}`;
}

/** An answer read as "status body" when served, "status " otherwise (the refusal's reason left out). */
export function statusAndBodyIf200(reply: RawReply): string {
  return `${reply.status} ${reply.status === 200 ? String(reply.body) : ''}`;
}

/**
 * GET over a new connection (see ClientOptions and RequestOptions): the answer as `read` makes it
 * ('closed' if the connection closed instead, `refused` if the handshake did not complete) and the
 * session to resume next.
 */
export async function tlsGet<S = number, const R extends string = never>(
  t: Test,
  options: RequestOptions<S, R>,
): Promise<Reply<S | 'closed' | R>> {
  const read = options.read ?? ((reply: RawReply) => reply.status as S);
  const sessionFrom = options.sessionFrom ?? 'ticket';
  const client = tlsClient(t, options);
  let ticket: Buffer | undefined;
  if (sessionFrom !== 'getSession') client.on('session', (value: Buffer) => (ticket = value));
  try {
    const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
    const handshake = waitFor(client, 'secureConnect', options.handshakeTimeout ?? SOON);
    if (options.refused === undefined) await handshake;
    else {
      const connected = await Promise.race([
        handshake.then(
          () => true,
          () => false,
        ),
        closed.then(() => false),
      ]);
      if (!connected) return { status: options.refused };
    }
    const headers: Record<string, string> = options.host === undefined ? {} : { host: options.host };
    const reply = await Promise.race([
      rawHttp(client)('GET', options.path ?? '/', headers).then(
        (answer): Reply<S | 'closed'> => ({ status: read(answer), body: String(answer.body) }),
        (): Reply<'closed'> => ({ status: 'closed' }),
      ),
      closed.then((status): Reply<'closed'> => ({ status })),
    ]);
    const { closeAfter } = options;
    if (closeAfter && !(options.closeAfterOnlyWithoutTicket && ticket !== undefined))
      await new Promise((resolve) => setTimeout(resolve, closeAfter));
    const session =
      sessionFrom === 'ticket'
        ? ticket
        : sessionFrom === 'getSession'
          ? client.getSession()
          : (ticket ?? client.getSession());
    return { ...reply, session };
  } finally {
    if (options.closeAfter !== undefined) client.destroy();
  }
}
