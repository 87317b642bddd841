/**
 * A client's identity (private key and certificate chain) as the `identity` option and
 * setIdentity() take it: checked here so the addon receives two PEM buffers, and its parse
 * errors come back coded and naming the input at fault. Also the provider form of the option:
 * a function asked for the identity at each certificate request of the server.
 */
import { ctlsError, describeThrown, invalidOption } from '../common/errors.js';
import { checkObject } from '../common/validate.js';
import type { NativeTlsConnection } from './native.js';
import { codedError } from './native-errors.js';
import { pemBuffer } from './pem.js';
import { timerDelay } from '../common/timers.js';

export interface Identity {
  key: string | Buffer;
  cert: string | Buffer | ReadonlyArray<string | Buffer>;
  passphrase?: string;
}

/** What an identity provider is told about the certificate request it answers. */
export interface IdentityRequest {
  /** The host name the client connected to (its SNI, or the IP address). */
  hostname: string;
  /** Whether the request comes after the handshake (TLS 1.3 post-handshake auth, TLS 1.2 renegotiation). */
  afterHandshake: boolean;
}

/**
 * Answers each certificate request of the server with the identity to present now. It may return a
 * promise; the handshake (or the re-authentication) waits for it, up to `identityTimeout`.
 */
export type IdentityProvider = (request: IdentityRequest) => Identity | PromiseLike<Identity>;

/** Default ms a client waits for its identity provider before it fails the connection. */
export const DEFAULT_IDENTITY_TIMEOUT = 10_000;

/** Makes `identity` what `handle` presents at the next certificate request (null: the socket is closed). */
export function presentIdentity(handle: NativeTlsConnection | null, identity: Identity): void {
  if (checkObject('identity', identity) === undefined) throw invalidOption('identity', 'an object with key and cert');
  const key = pemBuffer('key', identity.key);
  const cert = pemBuffer('cert', identity.cert);
  if (key === undefined || cert === undefined) {
    throw invalidOption('identity', 'an object with both key and cert', identity);
  }
  if (handle === null) throw ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket is closed');
  try {
    handle.setIdentity(key, cert, identity.passphrase);
  } catch (error) {
    // The addon says which input it could not parse; a mismatch is the key's.
    const option = (error as { option?: unknown }).option;
    throw codedError(error, 'ERR_CTLS_BAD_PEM', typeof option === 'string' ? option : 'key');
  }
}

/**
 * Asks `provider` and calls back once, never synchronously (the caller sits in the middle of a
 * record cycle): with the identity, or with ERR_CTLS_IDENTITY_FAILED (it threw, rejected or
 * answered no object) or ERR_CTLS_IDENTITY_TIMEOUT (no answer within `timeout` ms).
 */
export function askIdentity(
  provider: IdentityProvider,
  request: IdentityRequest,
  timeout: number,
  callback: (error: Error | null, identity?: Identity) => void,
): void {
  let done = false;
  const finish = (error: Error | null, identity?: Identity): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    callback(error, identity);
  };
  const timer = setTimeout(() => {
    finish(ctlsError('ERR_CTLS_IDENTITY_TIMEOUT', `the identity provider did not answer within ${timeout} ms`));
  }, timerDelay(timeout));
  timer.unref?.();
  Promise.resolve()
    .then(() => provider(request))
    .then(
      (identity) => {
        if (identity === null || typeof identity !== 'object') {
          finish(ctlsError('ERR_CTLS_IDENTITY_FAILED', 'the identity provider answered no { key, cert } object'));
          return;
        }
        finish(null, identity);
      },
      (error: unknown) => {
        const message = describeThrown(error);
        finish(ctlsError('ERR_CTLS_IDENTITY_FAILED', `the identity provider failed: ${message}`, { cause: error }));
      },
    );
}
