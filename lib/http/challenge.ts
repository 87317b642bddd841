/**
 * Bearer challenges (`WWW-Authenticate`) of the 401 answers: an invalid token (RFC 6750 §3) and a
 * policy's request for step-up authentication (RFC 9470, or a claims challenge).
 */
import type { Decision } from '../common/types.js';
import { problem, type RequestRefusal } from './problem.js';

/**
 * A policy asks for step-up by denying with `obligations: { stepUp: StepUpObligation }`.
 * - `claims`: a claims challenge, answered as `error="insufficient_claims", claims="<base64url of
 *   the JSON>"`, the way Microsoft Entra continuous access evaluation challenges clients.
 * - otherwise `acrValues` / `maxAge`: RFC 9470 §3 `error="insufficient_user_authentication"` with
 *   `acr_values` and `max_age`.
 */
export interface StepUpObligation {
  claims?: string | Record<string, unknown>;
  acrValues?: string | string[];
  maxAge?: number;
  description?: string;
}

/** RFC 6750 §3: the Bearer challenge with error="invalid_token". */
export function tokenChallenge(description: string, realm: string | undefined): RequestRefusal {
  const challenge = bearer(realm, { error: 'invalid_token', error_description: description });
  return problem(401, 'Unauthorized', description, { 'www-authenticate': challenge }, undefined);
}

/** The description of a step-up challenge whose obligation has none, when the reason is not exposed. */
const GENERIC_STEP_UP = 'step-up authentication required';

/**
 * `description` is the policy's text for the client; without one, the decision's reason only when
 * `exposeReason` (a reason is written for the audit log and may name policies).
 */
export function stepUpChallenge(
  stepUp: StepUpObligation,
  decision: Decision,
  realm: string | undefined,
  exposeReason: boolean,
): RequestRefusal {
  const given = typeof stepUp.description === 'string' ? stepUp.description : undefined;
  const description = given ?? (exposeReason ? decision.reason : GENERIC_STEP_UP);
  let params: Record<string, string>;
  if (stepUp.claims !== undefined) {
    const json = typeof stepUp.claims === 'string' ? stepUp.claims : JSON.stringify(stepUp.claims);
    params = {
      error: 'insufficient_claims',
      error_description: description,
      claims: Buffer.from(json, 'utf8').toString('base64url'),
    };
  } else {
    params = { error: 'insufficient_user_authentication', error_description: description };
    if (stepUp.acrValues !== undefined)
      params['acr_values'] = Array.isArray(stepUp.acrValues) ? stepUp.acrValues.join(' ') : stepUp.acrValues;
    if (typeof stepUp.maxAge === 'number') params['max_age'] = String(Math.floor(stepUp.maxAge));
  }
  return problem(401, 'Unauthorized', description, { 'www-authenticate': bearer(realm, params) }, decision);
}

/** `Bearer k="v", …`; values are quoted-strings, so quotes and backslashes are escaped (RFC 9110 §5.6.4). */
function bearer(realm: string | undefined, params: Record<string, string>): string {
  const all = realm === undefined ? params : { realm, ...params };
  // error_description is limited to printable ASCII without '"' and '\' (RFC 6750 §3).
  const parts = Object.entries(all).map(
    ([k, v]) =>
      `${k}="${k === 'error_description' ? v.replace(/[^\x20-\x7e]|["\\]/g, '') : v.replace(/["\\]/g, '\\$&')}"`,
  );
  return `Bearer ${parts.join(', ')}`;
}
