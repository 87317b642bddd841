/**
 * connect(options): a client TLSSocket over a new (or given) transport,
 * mirroring node:tls.connect. It offers post-handshake auth so a server can
 * ask for a fresh certificate later, and setIdentity() rotates what it shows; an
 * `identity` provider is asked at every certificate request instead.
 */
import * as net from 'node:net';
import type * as tls from 'node:tls';
import { invalidOption } from './common/errors.js';
import { checkBoolean, checkFunction, checkObject } from './common/validate.js';
import { SecureContext, isSecureContext, type SecureContextOptions } from './tls/context.js';
import type { Identity, IdentityProvider } from './tls/identity.js';
import { TLSSocket, type TLSSocketOptions, type Transport } from './tls/socket.js';

export interface ConnectOptions extends SecureContextOptions {
  host?: string;
  port?: number;
  path?: string;
  /** An already-connected transport to run TLS over (e.g. a net.Socket). */
  socket?: Transport;
  servername?: string;
  rejectUnauthorized?: boolean;
  session?: Buffer;
  checkServerIdentity?: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
  /** Advertise TLS 1.3 post-handshake auth (default true). */
  enablePostHandshakeAuth?: boolean;
  secureContext?: SecureContext;
  timeout?: number;
  allowHalfOpen?: boolean;
  highWaterMark?: number;
  handshakeTimeout?: number;
  /**
   * The identity to present, instead of key/cert: an object, or a provider function asked at the
   * handshake's certificate request and at every later one (it may return a promise).
   */
  identity?: Identity | IdentityProvider;
  /** ms a provider may take to answer before the connection fails with ERR_CTLS_IDENTITY_TIMEOUT (default 10 s). */
  identityTimeout?: number;
  /** Let the addon read and write the TCP socket itself (default true; POSIX only). See docs/api.md. */
  nativeTransport?: boolean;
}

export function connect(options: ConnectOptions, callback?: () => void): TLSSocket;
export function connect(port: number, host?: string, options?: ConnectOptions, callback?: () => void): TLSSocket;
export function connect(
  portOrOptions: number | ConnectOptions,
  hostOrCallback?: string | (() => void),
  maybeOptions?: ConnectOptions,
  maybeCallback?: () => void,
): TLSSocket {
  let options: ConnectOptions;
  let callback: (() => void) | undefined;
  if (typeof portOrOptions === 'number') {
    options = { ...(maybeOptions ?? {}), port: portOrOptions };
    if (typeof hostOrCallback === 'string') options.host = hostOrCallback;
    callback = typeof hostOrCallback === 'function' ? hostOrCallback : maybeCallback;
  } else {
    // Required here: connect() with neither a port nor options has nowhere to connect.
    if (checkObject('options', portOrOptions) === undefined) throw invalidOption('options', 'an object', portOrOptions);
    options = portOrOptions;
    callback = typeof hostOrCallback === 'function' ? hostOrCallback : undefined;
  }
  checkBoolean('rejectUnauthorized', options.rejectUnauthorized);
  checkBoolean('nativeTransport', options.nativeTransport);
  checkFunction('checkServerIdentity', options.checkServerIdentity);
  const host = options.host ?? 'localhost';
  // The identity goes on the connection, not the context, so it can rotate.
  const {
    key: _k,
    cert: _c,
    passphrase: _p,
    identity: _i,
    identityTimeout: _t,
    nativeTransport: _n,
    ...contextOptions
  } = options;
  const identity = clientIdentity(options);
  if (options.secureContext !== undefined && !isSecureContext(options.secureContext)) {
    throw invalidOption('secureContext', "this library's SecureContext (createSecureContext())", options.secureContext);
  }
  const context = options.secureContext ?? new SecureContext(contextOptions, false);
  const transport = options.socket ?? connectTransport(options, host);
  const servername = options.servername ?? (net.isIP(host) === 0 ? host : undefined);
  const socketOptions: TLSSocketOptions = {
    isServer: false,
    secureContext: context,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
    offerPostHandshakeAuth: options.enablePostHandshakeAuth ?? true,
    allowHalfOpen: options.allowHalfOpen ?? false,
    ...(servername === undefined ? {} : { servername }),
    // An IP address gets no SNI but is still what the certificate must name.
    hostname: options.servername || host,
    ...(options.session === undefined ? {} : { session: options.session }),
    ...(options.checkServerIdentity === undefined ? {} : { checkServerIdentity: options.checkServerIdentity }),
    ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
    ...(options.handshakeTimeout === undefined ? {} : { handshakeTimeout: options.handshakeTimeout }),
    ...(identity === undefined ? {} : { identity }),
    ...(options.identityTimeout === undefined ? {} : { identityTimeout: options.identityTimeout }),
    ...(options.nativeTransport === undefined ? {} : { nativeTransport: options.nativeTransport }),
  };
  let socket: TLSSocket;
  try {
    socket = new TLSSocket(transport, socketOptions);
  } catch (error) {
    // A bad identity throws here: close the connection we opened, which nobody
    // else can reach (its 'error' would otherwise be unhandled). A transport the
    // caller passed in stays theirs.
    if (options.socket === undefined) transport.destroy();
    throw error;
  }
  if (options.timeout !== undefined) socket.setTimeout(options.timeout);
  if (callback !== undefined) socket.once('secureConnect', callback);
  return socket;
}

/** The `identity` option, or key/cert/passphrase as one; never both. */
function clientIdentity(options: ConnectOptions): Identity | IdentityProvider | undefined {
  const { key, cert, passphrase, identity } = options;
  if (identity === undefined) {
    if (key === undefined || cert === undefined) return undefined;
    return { key: key as string | Buffer, cert, ...(passphrase === undefined ? {} : { passphrase }) };
  }
  if (key !== undefined || cert !== undefined) {
    throw invalidOption('identity', 'given alone, not with key or cert', identity);
  }
  if (typeof identity !== 'function') checkObject('identity', identity);
  return identity;
}

function connectTransport(options: ConnectOptions, host: string): net.Socket {
  if (options.path !== undefined) return net.connect({ path: options.path });
  if (options.port === undefined) throw invalidOption('port', 'a port number (or a socket / path)', options.port);
  return net.connect({ host, port: options.port, allowHalfOpen: true });
}
