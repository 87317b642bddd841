/**
 * createServer(options, listener): a net.Server whose connections are TLS
 * terminated by the addon, mirroring node:tls.createServer.
 */
import * as net from 'node:net';
import { ctlsError, emitWarning, invalidOption } from './common/errors.js';
import { checkBoolean, checkCount, checkDuration, checkFunction, checkObject } from './common/validate.js';
import { SecureContext, contextHandle, isSecureContext, type SecureContextOptions } from './tls/context.js';
import { TLSSocket, type SocketAuthorizer, type Transport } from './tls/socket.js';
import { pemBuffer, type PemInput } from './tls/pem.js';
import { DEFAULT_MAX_HELD_BYTES_TOTAL, HeldBudget } from './tls/held-budget.js';
import { Authorizer, type DecisionEvent, type ReauthorizeSchedule } from './authz/authorizer.js';
import { OwnedSubject } from './authz/subject.js';
import { registerAuthorizer } from './authz/owner.js';
import { inspectConnections, type InspectReport } from './authz/inspect.js';
import { CrlFileSource, isCrlFileOptions, type CrlFileOptions } from './authz/revocation.js';
import type { Decision, NoArgumentListener, Policy } from './common/types.js';
import { checkLogger, errorFields, log, type Logger } from './common/logger.js';
import { kGuardHost, type GuardHost } from './authz/guard.js';
import { engineGuardHost } from './authz/guard-host.js';

export interface ServerOptions extends Omit<SecureContextOptions, 'crl'> {
  /** PEM CRL(s), or a file source that reloads on change: { file, watch: true }. */
  crl?: PemInput | CrlFileOptions;
  /** Decides every connection at the handshake and at each re-check (default: allow what verifies). */
  policy?: Policy;
  /** When and how live connections are re-checked. */
  reauthorize?: ReauthorizeSchedule;
  /** ms one policy evaluation may take before it counts as a denial (default 200). */
  policyTimeout?: number;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  /** ms the handshake may take before the connection is dropped (node's default: 120 s). */
  handshakeTimeout?: number;
  SNICallback?: (servername: string, callback: (error: Error | null, context?: SecureContext) => void) => void;
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  highWaterMark?: number;
  /**
   * Bytes of inbound plaintext a connection may have held by the data gate
   * while a certificate request is out (default 16 MiB); past it the
   * connection fails with ERR_CTLS_HELD_LIMIT.
   */
  maxHeldBytes?: number;
  /**
   * Bytes of inbound plaintext all of the server's connections may have held at once (default
   * 256 MiB); past it the connections that have held data the longest fail with ERR_CTLS_HELD_LIMIT
   * until the total fits.
   */
  maxHeldBytesTotal?: number;
  /**
   * Handshakes that may be in progress at once (default: no limit). A
   * connection beyond it is closed at once with ERR_CTLS_HANDSHAKE_LIMIT
   * (tlsClientError); handshakeTimeout bounds how long each one may wait.
   */
  maxPendingHandshakes?: number;
  /** An existing context to use instead of building one from the options. */
  secureContext?: SecureContext;
  /** A pino-compatible logger for decisions, warnings and errors (docs/api.md, Observability). */
  logger?: Logger;
  /**
   * Let the addon read and write each connection's TCP socket itself (default true; POSIX only;
   * off with pauseOnConnect, whose caller decides when the socket reads). See docs/api.md.
   */
  nativeTransport?: boolean;
}

export type SecureConnectionListener = (socket: TLSSocket) => void;

/** The events a Server emits, with their listeners: its own, then net.Server's. */
export interface ServerEvents {
  /** A decision on one of the server's connections concluded (only built while someone listens). */
  decision: (event: DecisionEvent, socket: TLSSocket) => void;
  /** A condition that does not deny but needs an operator (a stale CRL in best-effort mode). */
  warning: (warning: Error) => void;
  /** A connection completed its handshake and its first decision allowed it. */
  secureConnection: SecureConnectionListener;
  /** A connection failed before it was established; `socket` is its transport when refused before TLS began. */
  tlsClientError: (error: Error, socket: TLSSocket | Transport) => void;
  /** setCa() or setCrl() replaced the trust store; live connections are being re-decided. */
  trustChange: (what: 'ca' | 'crl') => void;
  close: NoArgumentListener;
  connection: (socket: net.Socket) => void;
  error: (error: Error) => void;
  listening: NoArgumentListener;
  drop: (data?: net.DropArgument) => void;
}

type EventName = keyof ServerEvents;

/**
 * Typed listeners: `server.on('decision', (event, socket) => …)` is checked against ServerEvents.
 * Declared beside the class (declaration merging), so net.Server's own events stay listed above.
 */
export interface Server {
  on<K extends EventName>(event: K, listener: ServerEvents[K]): this;
  once<K extends EventName>(event: K, listener: ServerEvents[K]): this;
  addListener<K extends EventName>(event: K, listener: ServerEvents[K]): this;
  prependListener<K extends EventName>(event: K, listener: ServerEvents[K]): this;
  prependOnceListener<K extends EventName>(event: K, listener: ServerEvents[K]): this;
  off<K extends EventName>(event: K, listener: ServerEvents[K]): this;
  removeListener<K extends EventName>(event: K, listener: ServerEvents[K]): this;
  /** Like node's servers, this one takes any Duplex handed in as a connection (TLS over a stream). */
  emit(event: 'connection', transport: Transport): boolean;
  emit<K extends EventName>(event: K, ...args: Parameters<ServerEvents[K]>): boolean;
}

const kAuthorizer = Symbol('continuous-tls.serverAuthorizer');

export class Server extends net.Server {
  readonly secureContext: SecureContext;
  /** The authorization engine deciding every connection of this server. */
  readonly authorizer: Authorizer;
  /** What a fleet drives when it watches this server (fleet.watch(server)). */
  readonly [kGuardHost]: GuardHost;
  readonly #options: ServerOptions;
  readonly #live = new Set<TLSSocket>();
  #pendingHandshakes = 0;
  /** What every connection's data gate holds, against maxHeldBytesTotal. */
  readonly #heldBudget: HeldBudget;
  readonly #crlSource: CrlFileSource | null = null;
  readonly #logger: Logger | undefined;
  /** Connections arrive paused for the native path; one that takes the stream path is resumed. */
  readonly #resumeStreamPath: boolean;
  [kAuthorizer]: SocketAuthorizer | undefined;

  constructor(options: ServerOptions = {}, listener?: SecureConnectionListener) {
    const native = options.nativeTransport !== false && options.pauseOnConnect !== true;
    super({ allowHalfOpen: true, pauseOnConnect: native || (options.pauseOnConnect ?? false) });
    checkServerOptions(options);
    this.#resumeStreamPath = native;
    this.#heldBudget = new HeldBudget(options.maxHeldBytesTotal ?? DEFAULT_MAX_HELD_BYTES_TOTAL);
    this.#options = options;
    this.#logger = checkLogger(options.logger);
    const { crl, ...contextOptions } = options;
    let initialCrl: Buffer | undefined;
    if (isCrlFileOptions(crl)) {
      this.#crlSource = new CrlFileSource(
        crl,
        (pem) => this.setCrl(pem),
        (error) => this.#reportError(error),
      );
      initialCrl = this.#crlSource.load() ?? undefined;
      if (initialCrl === undefined) throw ctlsError('ERR_CTLS_CRL_LOAD', `CRL file ${crl.file} could not be loaded`);
      this.#crlSource.markApplied(initialCrl);
    } else {
      initialCrl = pemBuffer('crl', crl);
    }
    if (options.secureContext !== undefined && !isSecureContext(options.secureContext)) {
      throw invalidOption(
        'secureContext',
        "this library's SecureContext (createSecureContext())",
        options.secureContext,
      );
    }
    this.secureContext =
      options.secureContext ??
      new SecureContext({ ...contextOptions, ...(initialCrl === undefined ? {} : { crl: initialCrl }) }, true);
    const requestCert = options.requestCert ?? false;
    this.authorizer = new Authorizer({
      trust: this.secureContext,
      ...(options.policy === undefined ? {} : { policy: options.policy }),
      ...(options.reauthorize === undefined ? {} : { reauthorize: options.reauthorize }),
      ...(options.policyTimeout === undefined ? {} : { policyTimeout: options.policyTimeout }),
      requireVerified: options.rejectUnauthorized ?? true,
      requireCertificate: requestCert && (options.rejectUnauthorized ?? true),
      auditWanted: () => this.listenerCount('decision') > 0,
      tier: 'owned',
      ...(this.#logger === undefined ? {} : { logger: this.#logger }),
    });
    // This server's engine admits only the server's own sockets.
    this.authorizer.on('decision', (event, socket) => this.emit('decision', event, socket as TLSSocket));
    this.authorizer.on('warning', (warning: Error) => emitWarning(this, warning));
    // Contexts an SNICallback returns are the app's own: a fleet reaches their connections
    // through its guard (revoked serials), and its CRLs through this server's context.
    this[kGuardHost] = engineGuardHost(
      'server',
      this.authorizer,
      () => [this.secureContext],
      () => this.emit('trustChange', 'crl'),
    );
    this[kAuthorizer] = {
      onSecure: (socket) => {
        registerAuthorizer(socket, this.authorizer);
        return this.authorizer.admit(new OwnedSubject(socket)).then((decision) => decision.allow);
      },
      onCertificate: (socket) => {
        void this.authorizer.certificateChanged(socket);
      },
    };
    // Each close() lets the trust and policy go; a server that listens again follows them again
    // (its engine reopens with the first connection it tracks).
    this.on('close', () => {
      this.#crlSource?.close();
      this.authorizer.close();
    });
    this.on('listening', () => this.#crlSource?.reopen());
    if (options.SNICallback !== undefined) {
      contextHandle(this.secureContext).enableClientHelloPause();
    }
    if (listener !== undefined) this.on('secureConnection', listener);
    this.on('connection', (transport: net.Socket) => this.#accept(transport));
  }

  #accept(transport: Transport): void {
    const options = this.#options;
    if (this.#pendingHandshakes >= (options.maxPendingHandshakes ?? Infinity)) {
      // Refused before any TLS state exists: a flood of silent connections
      // costs a socket each, not a handshake each.
      transport.destroy();
      this.emit(
        'tlsClientError',
        ctlsError(
          'ERR_CTLS_HANDSHAKE_LIMIT',
          `${this.#pendingHandshakes} handshakes are already in progress (maxPendingHandshakes)`,
        ),
        transport,
      );
      return;
    }
    const socket = new TLSSocket(transport, {
      isServer: true,
      secureContext: this.secureContext,
      requestCert: options.requestCert ?? false,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
      handshakeTimeout: options.handshakeTimeout ?? 120_000,
      allowHalfOpen: options.allowHalfOpen ?? false,
      ...(options.SNICallback === undefined ? {} : { SNICallback: options.SNICallback }),
      ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
      ...(options.maxHeldBytes === undefined ? {} : { maxHeldBytes: options.maxHeldBytes }),
      heldBudget: this.#heldBudget,
      ...(this[kAuthorizer] === undefined ? {} : { authorizer: this[kAuthorizer] }),
      nativeTransport: options.nativeTransport !== false && options.pauseOnConnect !== true,
    });
    if (this.#resumeStreamPath && !socket.nativeTransport && transport instanceof net.Socket) transport.resume();
    this.#live.add(socket);
    this.#pendingHandshakes++;
    let pending = true;
    const settled = (): void => {
      if (!pending) return;
      pending = false;
      this.#pendingHandshakes--;
    };
    socket.once('secure', settled);
    socket.once('close', () => {
      settled();
      this.#live.delete(socket);
    });
    socket.once('_tlsClientError', (error: Error) => this.emit('tlsClientError', error, socket));
    socket.once('secure', () => this.emit('secureConnection', socket));
  }

  /**
   * The live TLS connections (handshaking or established): `server.connections()`.
   *
   * A method at run time, declared as a property whose type is also a number: @types/node still
   * lists net.Server's long-deprecated numeric `connections`, and a method of that name would
   * make this class's declarations fail to compile in apps that type-check their libraries.
   */
  declare connections: (() => TLSSocket[]) & number;

  static {
    Object.defineProperty(Server.prototype, 'connections', {
      configurable: true,
      writable: true,
      value: function connections(this: Server): TLSSocket[] {
        return [...this.#live];
      },
    });
  }

  /**
   * Replace the trusted CAs. Every live connection is revalidated at once;
   * the returned promise resolves with their new decisions.
   */
  setCa(ca: PemInput | undefined): Promise<Decision[]> {
    this.secureContext.setCa(ca);
    this.emit('trustChange', 'ca');
    return this.authorizer.trustChanged();
  }

  /**
   * Replace the CRLs. Every live connection is revalidated at once: a revoked
   * peer is cut before any further byte of it is delivered.
   */
  setCrl(crl: PemInput | undefined): Promise<Decision[]> {
    this.secureContext.setCrl(crl);
    this.emit('trustChange', 'crl');
    return this.authorizer.trustChanged();
  }

  /** Every live connection as JSON-ready data: peer, decision, expiry, next re-check (see authz/inspect.ts). */
  inspect(): InspectReport {
    return inspectConnections(this.authorizer);
  }

  /** Swap the policy; every live connection is re-decided with it at once. */
  setPolicy(policy: Policy | undefined): Promise<Decision[]> {
    return this.authorizer.setPolicy(policy);
  }

  /** Reads the CRL file source again now (it also reloads by itself when watched). */
  reloadCrl(): void {
    this.#crlSource?.reload();
  }

  #reportError(error: Error): void {
    if (this.#logger !== undefined)
      log(this.#logger, 'error', { tier: 'owned', err: errorFields(error) }, error.message);
    // A bad CRL file must not crash a server that has no 'error' listener.
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(error);
  }

  get ticketKeys(): Buffer | undefined {
    return this.secureContext.ticketKeys;
  }

  getTicketKeys(): Buffer | undefined {
    return this.secureContext.ticketKeys;
  }

  setTicketKeys(keys: Buffer): void {
    this.secureContext.setTicketKeys(keys);
  }
}

/** The options the server reads itself; the context's own are checked by SecureContext, the engine's by Authorizer. */
function checkServerOptions(options: ServerOptions): void {
  checkObject('options', options);
  checkBoolean('requestCert', options.requestCert);
  checkBoolean('rejectUnauthorized', options.rejectUnauthorized);
  checkBoolean('allowHalfOpen', options.allowHalfOpen);
  checkBoolean('nativeTransport', options.nativeTransport);
  checkDuration('handshakeTimeout', options.handshakeTimeout, undefined, { zero: true });
  checkCount('maxHeldBytes', options.maxHeldBytes, undefined, { infinite: true });
  checkCount('maxHeldBytesTotal', options.maxHeldBytesTotal, undefined, { infinite: true });
  checkCount('maxPendingHandshakes', options.maxPendingHandshakes, undefined, { infinite: true });
  checkFunction('SNICallback', options.SNICallback);
}

export function createServer(options?: ServerOptions, listener?: SecureConnectionListener): Server;
export function createServer(listener?: SecureConnectionListener): Server;
export function createServer(
  optionsOrListener?: ServerOptions | SecureConnectionListener,
  listener?: SecureConnectionListener,
): Server {
  if (typeof optionsOrListener === 'function') return new Server({}, optionsOrListener);
  return new Server(optionsOrListener ?? {}, listener);
}
