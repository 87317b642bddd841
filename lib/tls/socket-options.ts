/**
 * The options a TLSSocket takes: declared, checked once at construction (common/validate.ts,
 * with the same rules and messages as the server's), and turned into what the native
 * TlsConnection is opened with.
 */
import type * as tls from 'node:tls';
import { invalidOption } from '../common/errors.js';
import { checkCount, checkDuration } from '../common/validate.js';
import type { SecureContext } from './context.js';
import { DEFAULT_MAX_HELD_BYTES } from './data-gate.js';
import type { HeldBudget } from './held-budget.js';
import { DEFAULT_IDENTITY_TIMEOUT, type Identity, type IdentityProvider } from './identity.js';
import type { NativeConnectionOptions } from './native.js';
import type { SNICallback } from './sni.js';

/**
 * TLSSocketOptions (socket.ts) with the engine's type left open: the engine is handed the socket
 * itself, and this file must not depend on the socket.
 */
export interface SocketOptions<Authorizer> {
  isServer: boolean;
  secureContext: SecureContext;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  servername?: string;
  /** Client: the name checkServerIdentity verifies the server certificate against (default: servername). */
  hostname?: string;
  session?: Buffer;
  /** Client: advertise post-handshake auth (default true). */
  offerPostHandshakeAuth?: boolean;
  /**
   * Client: the identity presented when a certificate is requested, or a provider asked for it at
   * each certificate request (the handshake's and every later one).
   */
  identity?: Identity | IdentityProvider;
  /** Client: ms an identity provider may take to answer before the connection fails (default 10 s). */
  identityTimeout?: number;
  /** ms the handshake may take before the connection is cut (0 or absent: no limit). */
  handshakeTimeout?: number;
  SNICallback?: SNICallback;
  checkServerIdentity?: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
  allowHalfOpen?: boolean;
  highWaterMark?: number;
  /**
   * Bytes of inbound plaintext the gate may hold while a certificate request
   * is out (default 16 MiB); past it the connection fails with ERR_CTLS_HELD_LIMIT.
   */
  maxHeldBytes?: number;
  /** @internal The server's ceiling on what all its connections hold at once (ServerOptions.maxHeldBytesTotal). */
  heldBudget?: HeldBudget;
  /**
   * Let the addon read and write a TCP net.Socket transport itself (default true; POSIX only).
   * false keeps every byte on the JavaScript stream path. Other transports always take that path.
   */
  nativeTransport?: boolean;
  /** The authorization engine that decides the connection (see SocketAuthorizer in socket.ts). */
  authorizer?: Authorizer;
}

export interface SocketLimits {
  maxHeldBytes: number;
  /** 0: no limit. */
  handshakeTimeout: number;
  identityTimeout: number;
}

/** The socket's own limits, checked, with their defaults. */
export function socketLimits(options: SocketOptions<unknown>): SocketLimits {
  return {
    maxHeldBytes: checkCount('maxHeldBytes', options.maxHeldBytes, DEFAULT_MAX_HELD_BYTES, { infinite: true }),
    handshakeTimeout: checkDuration('handshakeTimeout', options.handshakeTimeout, 0, { zero: true }),
    identityTimeout: checkDuration('identityTimeout', options.identityTimeout, DEFAULT_IDENTITY_TIMEOUT),
  };
}

/** What the native TlsConnection is opened with. */
export function nativeConnectionOptions(options: SocketOptions<unknown>): NativeConnectionOptions {
  const native: NativeConnectionOptions = {
    requestCert: options.requestCert ?? false,
    rejectUnauthorized: options.rejectUnauthorized ?? !options.isServer,
    offerPostHandshakeAuth: options.offerPostHandshakeAuth ?? true,
  };
  if (options.servername !== undefined) native.servername = options.servername;
  if (options.session !== undefined) native.session = bytesOf('session', options.session);
  // A provider is asked at each certificate request: the handshake pauses there for it.
  if (!options.isServer && typeof options.identity === 'function') native.askIdentity = true;
  return native;
}

/**
 * `value` (a Buffer or any other ArrayBufferView, as node:tls takes) as a Buffer over the same
 * bytes; anything else is ERR_CTLS_INVALID_OPTION, never silently dropped.
 */
export function bytesOf(name: string, value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw invalidOption(name, 'a Buffer, TypedArray or DataView', value);
}
