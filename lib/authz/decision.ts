/**
 * The Decision records the engine concludes: how long an allow may last (the earliest of the
 * policy's answer, the chain, the token and a strict CRL's nextUpdate), and the reason a denial
 * gives, so that the same cause reads the same on both tiers.
 */
import type { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ctlsErrorWithoutStack, type ContinuousTlsError } from '../common/errors.js';
import type { SecureContext } from '../tls/context.js';
import type { EvaluatedDecision } from '../policy/evaluate.js';
import type { Decision, DecisionSource, Trigger } from '../common/types.js';
import { chainNotAfter } from './chain-verdict.js';

/** What decides a connection once it is verified: the policy's answer, or the verdict alone. */
export type PolicyAnswer = Pick<
  EvaluatedDecision,
  'allow' | 'reason' | 'expiresAt' | 'source' | 'obligations' | 'error'
>;

/** What an answer was given about, and when. */
export interface Question {
  trigger: Trigger;
  /** performance.now() when the decision started, for durationMs. */
  started: number;
  /** 'fallback' when a fresh exchange could not be done and the chain was revalidated instead. */
  source: DecisionSource;
  chain: X509Certificate[];
  token: Record<string, unknown> | undefined;
  /** When the chain OpenSSL built expires (store CAs included). */
  chainHorizon: number;
}

/** The decision `answer` makes, under `trust`, at `now`. */
export function decisionFrom(question: Question, answer: PolicyAnswer, trust: SecureContext, now: number): Decision {
  const { trigger, started, source, chain, token } = question;
  const tokenExpiresAt = tokenExpiry(token);
  const chainExpiresAt = Math.min(chainNotAfter(chain), question.chainHorizon);
  const expiresAt = Math.min(answer.expiresAt, chainExpiresAt, tokenExpiresAt, strictCrlHorizon(trust));
  let allow = answer.allow;
  let reason = answer.reason;
  if (allow && expiresAt <= now) {
    // An allow that has lapsed on arrival (ttlMs: 0, an expiresAt in the past, an expired token)
    // admits nothing: re-deciding it at once would only ask the policy again, forever.
    allow = false;
    reason = tokenExpiresAt <= expiresAt ? 'token-expired' : 'decision-expired';
  }
  const decision: Decision = {
    allow,
    reason,
    trigger,
    expiresAt: allow ? expiresAt : -Infinity,
    source: source === 'fallback' ? 'fallback' : answer.source,
    durationMs: performance.now() - started,
  };
  const leaf = chain[0];
  if (leaf !== undefined) decision.certificate = leaf;
  if ('obligations' in answer && answer.obligations !== undefined) decision.obligations = answer.obligations;
  if ('error' in answer && answer.error !== undefined) {
    Object.defineProperty(decision, 'error', { value: answer.error, enumerable: false });
  }
  return decision;
}

export function denial(
  trigger: Trigger,
  reason: string,
  source: DecisionSource,
  started: number,
  certificate?: X509Certificate,
  error?: Error,
): Decision {
  const decision: Decision = {
    allow: false,
    reason,
    trigger,
    expiresAt: -Infinity,
    source,
    durationMs: performance.now() - started,
  };
  if (certificate !== undefined) decision.certificate = certificate;
  if (error !== undefined) Object.defineProperty(decision, 'error', { value: error, enumerable: false });
  return decision;
}

/** A fresh exchange that failed verification is denied for the verification error itself (CERT_REVOKED …). */
export function freshFailureReason(error: Error & { code?: string; verifyError?: string }): string {
  if (typeof error.verifyError === 'string') return error.verifyError;
  switch (error.code) {
    case 'ERR_CTLS_FRESH_UNSUPPORTED':
      return 'fresh-unsupported';
    case 'ERR_CTLS_REAUTH_TIMEOUT':
      return 'reauth-timeout';
    case 'ERR_CTLS_NO_PEER_CERTIFICATE':
      return 'no-certificate';
    case 'ERR_CTLS_CERT_VERIFY':
      return 'certificate-rejected';
    case 'ERR_CTLS_SOCKET_CLOSED':
      return 'connection-closed';
    default:
      return 'reauth-failed';
  }
}

/**
 * The error a denied connection is destroyed with; it carries the decision. It has no stack: the
 * engine raises it from a sweep or a timer, and the decision says where it came from.
 */
export function deauthorizedError(decision: Decision): ContinuousTlsError {
  const error = ctlsErrorWithoutStack(
    'ERR_CTLS_DEAUTHORIZED',
    `connection deauthorized (${decision.trigger}): ${decision.reason}`,
    {
      cause: (decision as Decision & { error?: Error }).error,
    },
  );
  (error as ContinuousTlsError & { decision?: Decision }).decision = decision;
  return error;
}

function tokenExpiry(token: Record<string, unknown> | undefined): number {
  const exp = token?.exp;
  return typeof exp === 'number' ? exp * 1000 : Infinity;
}

/** In strict revocation mode a decision lapses when the first CRL it relied on goes stale. */
function strictCrlHorizon(trust: SecureContext): number {
  if (trust.revocation !== 'strict') return Infinity;
  let horizon = Infinity;
  for (const crl of trust.crls) if (crl.nextUpdate !== null) horizon = Math.min(horizon, crl.nextUpdate);
  return horizon;
}
