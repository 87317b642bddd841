/**
 * What the peer's certificate means for the connection, from OpenSSL's verdict on it:
 * `authorized` / `authorizationError` as node:tls names them, whether rejectUnauthorized or the
 * server's host name ends the connection, and the ExchangeVerdict the engine reuses instead of
 * verifying the chain again, stamped with the trust it was made under.
 */
import * as tls from 'node:tls';
import { ctlsError } from '../common/errors.js';
import { verifyWithHorizon, type SecureContext } from './context.js';
import type { NativeTlsConnection } from './native.js';
import { legacyPeerCertificate, type PeerChain } from './peer-certificate.js';

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

/** The socket options that decide what a handshake's verdict means (a subset of TLSSocketOptions). */
export interface HandshakeRules {
  isServer: boolean;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  servername?: string;
  hostname?: string;
  checkServerIdentity?: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
}

export interface HandshakeOutcome {
  authorized: boolean;
  /** node:tls's name for why not, e.g. 'CERT_REVOKED'; null when authorized. */
  error: string | null;
  /** Why the connection must end (rejectUnauthorized), or null when it goes on. */
  failure: Error | null;
  /**
   * On a resumed session, the earliest notAfter of the chain the library verified in OpenSSL's
   * place (remembered intermediates and store CAs included): OpenSSL built none to read it from.
   */
  notAfter?: number;
}

/** What the handshake concluded about the peer's chain, and whether the connection survives it. */
export function handshakeOutcome(
  handle: NativeTlsConnection | null,
  trust: SecureContext,
  peer: PeerChain,
  rules: HandshakeRules,
): HandshakeOutcome {
  const outcome: HandshakeOutcome = { ...verifiedChain(handle, trust, peer.der, rules.isServer), failure: null };
  if (!rules.isServer && outcome.authorized && !matchesServerIdentity(handle, peer, rules, outcome)) return outcome;
  const rejects = rules.isServer
    ? rules.requestCert === true && rules.rejectUnauthorized === true
    : rules.rejectUnauthorized !== false;
  if (rejects && !outcome.authorized) {
    const message = `${rules.isServer ? 'client' : 'server'} certificate rejected: ${outcome.error}`;
    outcome.failure = ctlsError('ERR_CTLS_CERT_VERIFY', message, { reason: outcome.error ?? undefined });
  }
  return outcome;
}

function verifiedChain(
  handle: NativeTlsConnection | null,
  trust: SecureContext,
  chain: Buffer[],
  isServer: boolean,
): { authorized: boolean; error: string | null; notAfter?: number } {
  if (chain.length === 0) {
    return { authorized: false, error: isServer ? 'NO_PEER_CERTIFICATE' : 'UNABLE_TO_GET_ISSUER_CERT' };
  }
  const verifyError = handle?.getVerifyError() ?? null;
  if (verifyError !== null) return { authorized: false, error: verifyError.code };
  if (handle?.getInfo().sessionReused) {
    // OpenSSL skips verification on resumption; we do not (docs/security.md). The session holds
    // the leaf alone (RFC 8446 section 4.6.1), so the horizon of the chain this builds is the only
    // one that covers the intermediates the leaf first came with.
    const outcome = verifyWithHorizon(trust, chain, isServer ? 'sslclient' : 'sslserver');
    if (!outcome.ok) return { authorized: false, error: outcome.code ?? 'UNSPECIFIED' };
    return outcome.notAfter === undefined
      ? { authorized: true, error: null }
      : { authorized: true, error: null, notAfter: outcome.notAfter };
  }
  // The chain OpenSSL built, not the list presented: extras it never used are not remembered.
  if (handle !== null) trust.rememberVerifiedChain(handle.getVerifiedChain());
  return { authorized: true, error: null };
}

/**
 * Client side: whether the server's certificate names the host, like node: the SNI name, else the
 * host connected to, IP addresses included. A mismatch unauthorizes the connection, and ends it
 * (false) unless rejectUnauthorized is false.
 */
function matchesServerIdentity(
  handle: NativeTlsConnection | null,
  peer: PeerChain,
  rules: HandshakeRules,
  outcome: HandshakeOutcome,
): boolean {
  const host = rules.hostname ?? rules.servername;
  if (host === undefined) return true;
  const mismatch = identityMismatch(rules.checkServerIdentity ?? tls.checkServerIdentity, host, peer);
  if (mismatch === null) return true;
  outcome.authorized = false;
  outcome.error = mismatch.code;
  if (rules.rejectUnauthorized === false) return true;
  outcome.failure = ctlsError('ERR_CTLS_HOSTNAME_MISMATCH', mismatch.message, { cause: mismatch.cause });
  return false;
}

/**
 * What the app's checkServerIdentity says of the server, judged as node judges it: null when it
 * accepts (any falsy answer), else the refusal's message, cause and authorizationError code. Every
 * step that touches the answer (a getter, a toString) runs inside the guard: an odd answer refuses
 * this server and never throws out of the handshake.
 */
function identityMismatch(
  check: NonNullable<HandshakeRules['checkServerIdentity']>,
  host: string,
  peer: PeerChain,
): { message: string; cause: unknown; code: string } | null {
  try {
    const answer: unknown = check(host, legacyPeerCertificate(peer.x509, () => [], false) as tls.PeerCertificate);
    if (!answer) return null;
    if (answer instanceof Error) {
      const code = (answer as NodeJS.ErrnoException).code;
      return {
        message: String(answer.message),
        cause: answer,
        code: typeof code === 'string' ? code : 'ERR_TLS_CERT_ALTNAME_INVALID',
      };
    }
    return {
      message: `checkServerIdentity refused the server: ${String(answer)}`,
      cause: answer,
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    };
  } catch (error) {
    return {
      message: 'checkServerIdentity refused the server (its check or its answer threw)',
      cause: error,
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    };
  }
}

/**
 * Stamps OpenSSL's verdict on the certificate just presented with the trust it was made under.
 * `notAfter`: the horizon of a verification the library ran itself (a resumed session's); else
 * that of the chain OpenSSL verified.
 */
export function exchangeVerdict(
  handle: NativeTlsConnection | null,
  trust: SecureContext,
  epoch: number,
  ok: boolean,
  code: string | null,
  notAfter?: number,
): ExchangeVerdict {
  // A verdict a trust change overtook (the peer split its flight around a setCrl) names no
  // generation, so the engine verifies the chain again under the trust in force.
  const current = handle?.verifiedUnderCurrentTrust() ?? false;
  const generation = current ? trust.trustGeneration : -1;
  const verdict: ExchangeVerdict = { ok, trust, generation, epoch };
  if (!ok) verdict.code = code ?? 'UNSPECIFIED';
  else {
    const horizon = notAfter ?? handle?.verifiedNotAfter() ?? null;
    if (horizon !== null) verdict.notAfter = horizon;
  }
  return verdict;
}
