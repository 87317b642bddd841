/**
 * createServer(options, listener): a net.Server whose connections are TLS
 * terminated by the addon, mirroring node:tls.createServer.
 */
import * as net from 'node:net';
import { ctlsError, emitWarning, invalidOption } from './common/errors.js';
import { SecureContext, contextHandle, type SecureContextOptions } from './tls/context.js';
import { TLSSocket, type SocketAuthorizer } from './tls/socket.js';
import { pemBuffer, type PemInput } from './tls/pem.js';
import { Authorizer, type DecisionEvent, type ReauthorizeSchedule } from './authz/authorizer.js';
import { OwnedSubject } from './authz/subject.js';
import { registerAuthorizer } from './authz/owner.js';
import { CrlFileSource, isCrlFileOptions, type CrlFileOptions } from './authz/revocation.js';
import type { Decision, Policy } from './common/types.js';

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
   * Handshakes that may be in progress at once (default: no limit). A
   * connection beyond it is closed at once with ERR_CTLS_HANDSHAKE_LIMIT
   * (tlsClientError); handshakeTimeout bounds how long each one may wait.
   */
  maxPendingHandshakes?: number;
  /** An existing context to use instead of building one from the options. */
  secureContext?: SecureContext;
}

export type SecureConnectionListener = (socket: TLSSocket) => void;

const kAuthorizer = Symbol('continuous-tls.serverAuthorizer');

export class Server extends net.Server {
  readonly secureContext: SecureContext;
  /** The authorization engine deciding every connection of this server. */
  readonly authorizer: Authorizer;
  readonly #options: ServerOptions;
  readonly #live = new Set<TLSSocket>();
  #pendingHandshakes = 0;
  readonly #crlSource: CrlFileSource | null = null;
  [kAuthorizer]: SocketAuthorizer | undefined;

  constructor(options: ServerOptions = {}, listener?: SecureConnectionListener) {
    super({ allowHalfOpen: true, pauseOnConnect: options.pauseOnConnect ?? false });
    if (options === null || typeof options !== 'object') throw invalidOption('options', 'an object', options);
    validateServerOptions(options);
    this.#options = options;
    const { crl, ...contextOptions } = options;
    let initialCrl: Buffer | undefined;
    if (isCrlFileOptions(crl)) {
      this.#crlSource = new CrlFileSource(crl, (pem) => this.setCrl(pem), (error) => this.#reportError(error));
      initialCrl = this.#crlSource.load() ?? undefined;
      if (initialCrl === undefined) throw ctlsError('ERR_CTLS_CRL_LOAD', `CRL file ${crl.file} could not be loaded`);
      this.#crlSource.markApplied(initialCrl);
    } else {
      initialCrl = pemBuffer('crl', crl);
    }
    this.secureContext = options.secureContext ?? new SecureContext({ ...contextOptions, ...(initialCrl === undefined ? {} : { crl: initialCrl }) }, true);
    const requestCert = options.requestCert ?? false;
    this.authorizer = new Authorizer({
      trust: this.secureContext,
      ...(options.policy === undefined ? {} : { policy: options.policy }),
      ...(options.reauthorize === undefined ? {} : { reauthorize: options.reauthorize }),
      ...(options.policyTimeout === undefined ? {} : { policyTimeout: options.policyTimeout }),
      requireVerified: options.rejectUnauthorized ?? true,
      requireCertificate: requestCert && (options.rejectUnauthorized ?? true),
      auditWanted: () => this.listenerCount('decision') > 0,
    });
    this.authorizer.on('decision', (event: DecisionEvent, socket: TLSSocket) => this.emit('decision', event, socket));
    this.authorizer.on('warning', (warning: Error) => emitWarning(this, warning));
    this[kAuthorizer] = {
      onSecure: (socket) => {
        registerAuthorizer(socket, this.authorizer);
        return this.authorizer.admit(new OwnedSubject(socket)).then((decision) => decision.allow);
      },
      onCertificate: (socket) => {
        void this.authorizer.certificateChanged(socket);
      },
    };
    this.once('close', () => {
      this.#crlSource?.close();
      this.authorizer.close();
    });
    if (options.SNICallback !== undefined) {
      contextHandle(this.secureContext).enableClientHelloPause();
    }
    if (listener !== undefined) this.on('secureConnection', listener);
    this.on('connection', (transport: net.Socket) => this.#accept(transport));
  }

  #accept(transport: net.Socket): void {
    const options = this.#options;
    if (this.#pendingHandshakes >= (options.maxPendingHandshakes ?? Infinity)) {
      // Refused before any TLS state exists: a flood of silent connections
      // costs a socket each, not a handshake each.
      transport.destroy();
      this.emit('tlsClientError', ctlsError('ERR_CTLS_HANDSHAKE_LIMIT', `${this.#pendingHandshakes} handshakes are already in progress (maxPendingHandshakes)`), transport);
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
      ...(this[kAuthorizer] === undefined ? {} : { authorizer: this[kAuthorizer] }),
    });
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

  /** The live TLS connections (handshaking or established). */
  // @ts-expect-error net.Server has a long-deprecated numeric `connections`; the contract's method replaces it.
  connections(): TLSSocket[] {
    return [...this.#live];
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

  /** Swap the policy; every live connection is re-decided with it at once. */
  setPolicy(policy: Policy | undefined): Promise<Decision[]> {
    return this.authorizer.setPolicy(policy);
  }

  /** Reads the CRL file source again now (it also reloads by itself when watched). */
  reloadCrl(): void {
    this.#crlSource?.reload();
  }

  #reportError(error: Error): void {
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

function validateServerOptions(options: ServerOptions): void {
  for (const name of ['requestCert', 'rejectUnauthorized', 'allowHalfOpen'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'boolean') throw invalidOption(name, 'a boolean', options[name]);
  }
  if (options.handshakeTimeout !== undefined && (!Number.isFinite(options.handshakeTimeout) || options.handshakeTimeout < 0)) {
    throw invalidOption('handshakeTimeout', 'a non-negative number of ms', options.handshakeTimeout);
  }
  for (const name of ['maxHeldBytes', 'maxPendingHandshakes'] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0) && value !== Infinity) {
      throw invalidOption(name, 'a positive integer or Infinity', value);
    }
  }
  if (options.SNICallback !== undefined && typeof options.SNICallback !== 'function') {
    throw invalidOption('SNICallback', 'a function', options.SNICallback);
  }
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
