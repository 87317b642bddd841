/**
 * createServer(options, listener): a net.Server whose connections are TLS
 * terminated by the addon, mirroring node:tls.createServer.
 */
import * as net from 'node:net';
import { invalidOption } from './errors.js';
import { SecureContext, contextHandle, type SecureContextOptions } from './context.js';
import { TLSSocket, type SocketAuthorizer } from './socket.js';
import type { PemInput } from './pem.js';

export interface ServerOptions extends SecureContextOptions {
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  /** ms the handshake may take before the connection is dropped (node's default: 120 s). */
  handshakeTimeout?: number;
  SNICallback?: (servername: string, callback: (error: Error | null, context?: SecureContext) => void) => void;
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  highWaterMark?: number;
  /** An existing context to use instead of building one from the options. */
  secureContext?: SecureContext;
}

export type SecureConnectionListener = (socket: TLSSocket) => void;

const kAuthorizer = Symbol('continuous-tls.serverAuthorizer');

export class Server extends net.Server {
  readonly secureContext: SecureContext;
  readonly #options: ServerOptions;
  readonly #live = new Set<TLSSocket>();
  [kAuthorizer]: SocketAuthorizer | undefined;

  constructor(options: ServerOptions = {}, listener?: SecureConnectionListener) {
    super({ allowHalfOpen: true, pauseOnConnect: options.pauseOnConnect ?? false });
    if (options === null || typeof options !== 'object') throw invalidOption('options', 'an object', options);
    validateServerOptions(options);
    this.#options = options;
    this.secureContext = options.secureContext ?? new SecureContext(options, true);
    if (options.SNICallback !== undefined) {
      contextHandle(this.secureContext).enableClientHelloPause();
    }
    if (listener !== undefined) this.on('secureConnection', listener);
    this.on('connection', (transport: net.Socket) => this.#accept(transport));
  }

  #accept(transport: net.Socket): void {
    const options = this.#options;
    const socket = new TLSSocket(transport, {
      isServer: true,
      secureContext: this.secureContext,
      requestCert: options.requestCert ?? false,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
      handshakeTimeout: options.handshakeTimeout ?? 120_000,
      allowHalfOpen: options.allowHalfOpen ?? false,
      ...(options.SNICallback === undefined ? {} : { SNICallback: options.SNICallback }),
      ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
      ...(this[kAuthorizer] === undefined ? {} : { authorizer: this[kAuthorizer] }),
    });
    this.#live.add(socket);
    socket.once('close', () => this.#live.delete(socket));
    socket.once('_tlsClientError', (error: Error) => this.emit('tlsClientError', error, socket));
    socket.once('secure', () => this.emit('secureConnection', socket));
  }

  /** The live TLS connections (handshaking or established). */
  // @ts-expect-error net.Server has a long-deprecated numeric `connections`; the contract's method replaces it.
  connections(): TLSSocket[] {
    return [...this.#live];
  }

  /** Replace the trusted CAs for every new verification. */
  setCa(ca: PemInput | undefined): void {
    this.secureContext.setCa(ca);
    this.emit('trustChange', 'ca');
  }

  /** Replace the CRLs for every new verification. */
  setCrl(crl: PemInput | undefined): void {
    this.secureContext.setCrl(crl);
    this.emit('trustChange', 'crl');
  }

  /** Internal: the authorization engine hooks every new socket through this. */
  setSocketAuthorizer(authorizer: SocketAuthorizer | undefined): void {
    this[kAuthorizer] = authorizer;
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
