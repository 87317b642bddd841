/**
 * The TLS alerts a socket sends as it ends a connection: whatever OpenSSL queued on a failure,
 * and, when the engine denies the connection, a fatal alert naming why, so the peer can tell a
 * denial from a normal close. Either is best effort: a connection already broken sends nothing.
 */
import type { NativeTlsConnection } from './native.js';

// Alert descriptions, RFC 8446 section 6.2.
const ALERT_CERTIFICATE_REVOKED = 44;
const ALERT_CERTIFICATE_EXPIRED = 45;
const ALERT_ACCESS_DENIED = 49;

/** The alert OpenSSL queued (a failed handshake, a bad record), or null. */
export function queuedAlert(handle: NativeTlsConnection | null): Buffer | null {
  if (handle === null) return null;
  try {
    // A cycle with no input drains any queued alert without new work.
    const [, ciphertext] = handle.cycle(undefined);
    return ciphertext;
  } catch {
    return null;
  }
}

/** A fatal alert for a denial: certificate_revoked, certificate_expired, otherwise access_denied. */
export function denialAlert(handle: NativeTlsConnection | null, reason: string | undefined): Buffer | null {
  const description =
    reason === 'CERT_REVOKED'
      ? ALERT_CERTIFICATE_REVOKED
      : reason === 'CERT_HAS_EXPIRED'
        ? ALERT_CERTIFICATE_EXPIRED
        : ALERT_ACCESS_DENIED;
  try {
    return handle?.sendFatalAlert(description) ?? null;
  } catch {
    return null;
  }
}
