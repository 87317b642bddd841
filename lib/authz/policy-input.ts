/**
 * What a policy reads about a connection at a decision (AuthorizationInput): the trigger, the peer's
 * chain and verdict, the connection's facts, the caller's context and a bound token's claims.
 */
import type { X509Certificate } from 'node:crypto';
import type { AuthorizationInput, ConnectionInfo, Trigger } from '../common/types.js';
import { builtByLibrary } from '../policy/cache-key.js';
import type { AuthorizationSubject } from './subject.js';
import type { ChainVerdict } from './verify-cache.js';

export interface InputFacts {
  trigger: Trigger;
  chain: X509Certificate[];
  verdict: ChainVerdict;
  now: number;
  /** Fresh exchanges completed on this connection. */
  reauthCount: number;
  context: Record<string, unknown>;
  token: Record<string, unknown> | undefined;
  /** A guard's signals about the peer's subject (input.signals). */
  signals?: Readonly<Record<string, unknown>> | undefined;
}

export function policyInput(subject: AuthorizationSubject, facts: InputFacts): AuthorizationInput {
  const { trigger, chain, verdict, context, token } = facts;
  // subject.info() builds a fresh object each call, so it is extended in place: a spread would copy
  // it once more at every decision of every connection.
  const connection = subject.info() as ConnectionInfo;
  connection.ageMs = facts.now - subject.createdAt;
  connection.reauthCount = facts.reauthCount;
  const input: AuthorizationInput = {
    trigger,
    peer: { chain, verified: verdict.ok },
    connection,
    context,
  };
  if (chain[0] !== undefined) input.peer.certificate = chain[0];
  if (!verdict.ok && verdict.code !== undefined) input.peer.verifyError = verdict.code;
  if (token !== undefined) input.token = token;
  if (facts.signals !== undefined) input.signals = facts.signals;
  return builtByLibrary(input);
}
