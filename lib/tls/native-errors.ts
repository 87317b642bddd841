/**
 * Turns the errors the addon throws or reports into the library's coded errors, keeping
 * OpenSSL's own words (reason, library, packed code) as fields: users match on `code`, and
 * the fields say what OpenSSL saw.
 */
import { ContinuousTlsError, ctlsError, opensslFields } from '../common/errors.js';

/** An error object as the addon builds it: a message plus optional OpenSSL fields. */
export type NativeError = Error & Record<string, unknown>;

/** The fatal error a cycle reported (a failed handshake, a bad record, a refused certificate). */
export function tlsError(error: NativeError | null): ContinuousTlsError {
  if (error === null) return ctlsError('ERR_CTLS_TLS', 'TLS connection failed');
  const code = typeof error.code === 'string' ? error.code : 'ERR_CTLS_TLS';
  // The native error is transport, not a cause worth chaining: its words become the fields.
  const { cause: _native, ...fields } = opensslFields(error);
  let finalCode = code;
  let message = error.message;
  if (error.peerChanged === true) {
    finalCode = 'ERR_CTLS_PEER_CERT_CHANGED';
    message = 'the server presented another certificate in a renegotiation than at the handshake';
  } else if (typeof error.verifyError === 'string') {
    finalCode = 'ERR_CTLS_CERT_VERIFY';
    message = `peer certificate failed verification: ${error.verifyError} (${String(error.verifyMessage)})`;
  } else if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') {
    finalCode = 'ERR_CTLS_NO_PEER_CERTIFICATE';
    message = 'the peer did not return a certificate';
  }
  const coded = new ContinuousTlsError(finalCode, message, fields);
  if (typeof error.verifyError === 'string') {
    (coded as ContinuousTlsError & { verifyError?: string }).verifyError = error.verifyError;
  }
  return coded;
}

/**
 * An error a native call threw, coded: the addon's own code when it set one, else `fallback`;
 * `option` names the input it was about.
 */
export function codedError(error: unknown, fallback = 'ERR_CTLS_TLS', option?: string): Error {
  if (error instanceof ContinuousTlsError) return error;
  const err = error as NativeError;
  const code = typeof err.code === 'string' ? err.code : fallback;
  const where = option === undefined ? '' : ` in option "${option}"`;
  return new ContinuousTlsError(code, `${err.message}${where}`, opensslFields(err));
}
