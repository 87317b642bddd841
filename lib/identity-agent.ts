/**
 * Agent-wide client identity: an https.Agent (identityAgent) and an undici connector
 * (identityConnector) whose every connection, new or pooled, asks one shared identity source at
 * each certificate request of the server. setIdentity(agent, identity) rotates them all at once:
 * a pooled keep-alive connection presents the new certificate at its next re-authentication,
 * without the app (or this module) keeping a list of sockets.
 */
import type * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { connect, type ConnectOptions } from './client.js';
import { ctlsError, invalidOption } from './common/errors.js';
import { checkObject } from './common/validate.js';
import { SecureContext } from './tls/context.js';
import type { Identity, IdentityProvider } from './tls/identity.js';
import type { TLSSocket } from './tls/socket.js';

/** A pool's connections wait this long for a handshake unless told otherwise (undici's connect timeout). */
const DEFAULT_POOL_HANDSHAKE_TIMEOUT = 10_000;

/** connect()'s options that every connection of an agent shares: no destination, one identity. */
export type IdentityTlsOptions = Omit<
  ConnectOptions,
  'host' | 'port' | 'path' | 'socket' | 'servername' | 'key' | 'cert' | 'passphrase' | 'secureContext' | 'identity'
> & {
  /** The identity every connection presents, or a provider asked at each certificate request. */
  identity: Identity | IdentityProvider;
};

/** The pool settings identityAgent() passes to https.Agent. */
export type IdentityAgentPoolOptions = Pick<
  http.AgentOptions,
  'keepAlive' | 'keepAliveMsecs' | 'maxSockets' | 'maxTotalSockets' | 'maxFreeSockets' | 'scheduling'
>;

export type IdentityAgentOptions = IdentityTlsOptions & IdentityAgentPoolOptions;

/** What undici hands a `connect` function (undici's buildConnector.Options). */
export interface IdentityConnectorOptions {
  hostname: string;
  protocol: string;
  port: string;
  servername?: string | null;
  httpSocket?: Duplex;
}

/**
 * A `connect` function for `new undici.Agent({ connect })`. undici types its sockets as node's
 * classes; what it uses of them (the stream, alpnProtocol, ref/unref, setKeepAlive) TLSSocket has.
 */
export type IdentityConnector = (
  options: IdentityConnectorOptions,
  callback: (...result: [null, net.Socket] | [Error, null]) => void,
) => void;

/** Where every connection of one agent gets its identity: swapped by setIdentity(), asked per request. */
class IdentitySource {
  #identity: Identity | IdentityProvider;

  constructor(identity: Identity | IdentityProvider) {
    this.#identity = checkIdentity(identity);
  }

  set(identity: Identity | IdentityProvider): void {
    this.#identity = checkIdentity(identity);
  }

  /** The provider every connection is opened with: it reads the source at each request. */
  readonly provider: IdentityProvider = (request) => {
    const identity = this.#identity;
    return typeof identity === 'function' ? identity(request) : identity;
  };
}

function checkIdentity(identity: Identity | IdentityProvider): Identity | IdentityProvider {
  if (typeof identity === 'function') return identity;
  const value = checkObject('identity', identity);
  if (value === undefined || value.key === undefined || value.cert === undefined) {
    throw invalidOption('identity', 'an object with key and cert, or a function returning one', identity);
  }
  return identity;
}

/** Opens the connections of one agent: one SecureContext (trust parsed once), one identity source. */
class IdentityConnections {
  readonly source: IdentitySource;
  #context: SecureContext;
  #options: ConnectOptions;

  constructor(options: IdentityTlsOptions) {
    if (checkObject('options', options) === undefined) throw invalidOption('options', 'an object with identity');
    const { identity, identityTimeout, handshakeTimeout, rejectUnauthorized, checkServerIdentity, ...rest } = options;
    this.source = new IdentitySource(identity);
    const { enablePostHandshakeAuth, timeout, allowHalfOpen, highWaterMark, session, ...contextOptions } = rest;
    this.#context = new SecureContext(contextOptions, false);
    this.#options = {
      secureContext: this.#context,
      identity: this.source.provider,
      handshakeTimeout: handshakeTimeout ?? DEFAULT_POOL_HANDSHAKE_TIMEOUT,
      ...defined({
        identityTimeout,
        rejectUnauthorized,
        checkServerIdentity,
        enablePostHandshakeAuth,
        timeout,
        allowHalfOpen,
        highWaterMark,
        session,
      }),
    };
  }

  open(host: string, port: number, servername: string | undefined, transport?: Duplex): TLSSocket {
    return connect({
      ...this.#options,
      host,
      port,
      ...(servername ? { servername } : {}),
      ...(transport === undefined ? {} : { socket: transport }),
    });
  }
}

/** The entries of `values` that are not undefined (exactOptionalPropertyTypes). */
function defined<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}

const sources = new WeakMap<object, IdentitySource>();

/**
 * An https.Agent whose connections are connect() sockets presenting the agent's identity. The TLS
 * settings are the agent's own: per-request `ca`, `cert`, `key` or `rejectUnauthorized` are ignored.
 */
export class IdentityAgent extends https.Agent {
  #connections: IdentityConnections;

  constructor(options: IdentityAgentOptions) {
    const { keepAlive, keepAliveMsecs, maxSockets, maxTotalSockets, maxFreeSockets, scheduling, ...tls } = options;
    super(defined({ keepAlive, keepAliveMsecs, maxSockets, maxTotalSockets, maxFreeSockets, scheduling }));
    this.#connections = new IdentityConnections(tls);
    sources.set(this, this.#connections.source);
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (error: Error | null, stream: Duplex) => void,
  ): Duplex | undefined {
    const host = options.host ?? options.hostname ?? 'localhost';
    const port = typeof options.port === 'string' ? Number(options.port) : (options.port ?? 443);
    try {
      return this.#connections.open(host, port, options.servername ?? undefined);
    } catch (error) {
      // The request reports it as its 'error', like a refused connection.
      callback?.(error as Error, undefined as never);
      return undefined;
    }
  }

  /** Every connection of the agent, pooled or new, presents `identity` at its next certificate request. */
  setIdentity(identity: Identity | IdentityProvider): void {
    this.#connections.source.set(identity);
  }
}

/** An https.Agent for node:https (https.request, https.get) whose connections present `identity`. */
export function identityAgent(options: IdentityAgentOptions): IdentityAgent {
  return new IdentityAgent(options);
}

/** A `connect` function for `new undici.Agent({ connect: identityConnector({ identity, ca }) })`. */
export function identityConnector(options: IdentityTlsOptions): IdentityConnector {
  const connections = new IdentityConnections(options);
  const connector: IdentityConnector = (target, callback) => {
    if (target.protocol !== 'https:') {
      callback(
        invalidOption('protocol', "'https:' (an identity connector only opens TLS connections)", target.protocol),
        null,
      );
      return;
    }
    let socket: TLSSocket;
    try {
      // undici writes an IPv6 host in brackets, as in a URL.
      const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
      socket = connections.open(host, Number(target.port) || 443, target.servername ?? undefined, target.httpSocket);
    } catch (error) {
      callback(error as Error, null);
      return;
    }
    settleOnConnect(socket, callback);
  };
  sources.set(connector, connections.source);
  return connector;
}

/** Calls back once: with the socket at 'secureConnect', or with why it failed or closed before. */
function settleOnConnect(socket: TLSSocket, callback: Parameters<IdentityConnector>[1]): void {
  const onError = (error: Error): void => {
    socket.off('secureConnect', onConnect).off('close', onClose);
    callback(error, null);
  };
  const onClose = (): void =>
    onError(socket.destroyReason ?? ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the connection closed during its handshake'));
  const onConnect = (): void => {
    socket.off('error', onError).off('close', onClose);
    // undici types its sockets as node's; TLSSocket is a Duplex with the socket methods it uses.
    callback(null, socket as unknown as net.Socket);
  };
  socket.once('secureConnect', onConnect).once('error', onError).once('close', onClose);
}

/**
 * Rotates the identity of every connection an identityAgent() or identityConnector() opened or will
 * open: each presents `identity` (or asks it, when a provider) at its next certificate request.
 */
export function setIdentity(agent: IdentityAgent | IdentityConnector, identity: Identity | IdentityProvider): void {
  const source = sources.get(agent);
  if (source === undefined) throw invalidOption('agent', 'an identityAgent() or identityConnector()', agent);
  source.set(identity);
}
