/**
 * OpenSSL's verdict on the certificate an exchange brought, read the way a TLSSocket reports it:
 * `authorized` / `authorizationError` as node:tls names them, and the ExchangeVerdict the engine
 * reuses instead of verifying the chain again, stamped with the trust it was made under.
 */
import type { SecureContext } from './context.js';
import type { NativeTlsConnection } from './native.js';

/**
 * OpenSSL's verdict on the certificate the last exchange (handshake or fresh request) brought,
 * with what it was made under: usable only while `trust` is still at `generation` and the
 * connection's certificate is still the one of `epoch`.
 */
export interface ExchangeVerdict {
  ok: boolean;
  code?: string;
  trust: SecureContext;
  generation: number;
  epoch: number;
  /** The earliest notAfter of the chain OpenSSL built (store CAs included), when it verified. */
  notAfter?: number;
}

export interface Authorization {
  authorized: boolean;
  /** node:tls's name for why not, e.g. 'CERT_REVOKED'; null when authorized. */
  error: string | null;
}

/** What the handshake concluded about the peer's chain (DER, leaf first). */
export function handshakeAuthorization(
  handle: NativeTlsConnection | null,
  trust: SecureContext,
  chain: Buffer[],
  isServer: boolean,
): Authorization {
  if (chain.length === 0) return { authorized: false, error: isServer ? 'NO_PEER_CERTIFICATE' : 'UNABLE_TO_GET_ISSUER_CERT' };
  const verifyError = handle?.getVerifyError() ?? null;
  if (verifyError !== null) return { authorized: false, error: verifyError.code };
  trust.rememberIntermediates(chain);
  if (handle?.getInfo().sessionReused) {
    // OpenSSL skips verification on resumption; we do not (docs/security.md).
    const outcome = trust.verifyChain(chain, isServer ? 'sslclient' : 'sslserver');
    return { authorized: outcome.ok, error: outcome.ok ? null : (outcome.code ?? 'UNSPECIFIED') };
  }
  return { authorized: true, error: null };
}

/** Stamps OpenSSL's verdict on the certificate just presented with the trust it was made under. */
export function exchangeVerdict(
  handle: NativeTlsConnection | null,
  trust: SecureContext,
  epoch: number,
  ok: boolean,
  code: string | null,
): ExchangeVerdict {
  // A verdict a trust change overtook (the peer split its flight around a setCrl) names no
  // generation, so the engine verifies the chain again under the trust in force.
  const current = handle?.verifiedUnderCurrentTrust() ?? false;
  const generation = current ? trust.trustGeneration : -1;
  const verdict: ExchangeVerdict = { ok, trust, generation, epoch };
  if (!ok) verdict.code = code ?? 'UNSPECIFIED';
  else {
    const notAfter = handle?.verifiedNotAfter() ?? null;
    if (notAfter !== null) verdict.notAfter = notAfter;
  }
  return verdict;
}
