/**
 * A client's identity (private key and certificate chain) as the `identity` option and
 * setIdentity() take it: checked here so the addon receives two PEM buffers, and its parse
 * errors come back coded and naming the input at fault.
 */
import { ctlsError, invalidOption } from '../common/errors.js';
import { checkObject } from '../common/validate.js';
import type { NativeTlsConnection } from './native.js';
import { codedError } from './native-errors.js';
import { pemBuffer } from './pem.js';

export interface Identity {
  key: string | Buffer;
  cert: string | Buffer | ReadonlyArray<string | Buffer>;
  passphrase?: string;
}

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
