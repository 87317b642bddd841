/**
 * The policy layer, and the `continuous-tls/policy` entry: evaluation, composition, caching, Cedar
 * and external decision points. It loads no native code.
 */
export {
  evaluatePolicy,
  isPolicy,
  policyName,
  DEFAULT_POLICY_TIMEOUT_MS,
  type EvaluateOptions,
  type EvaluatedDecision,
  type SourcedDecisionLike,
} from './evaluate.js';
export { allOf, anyOf, firstApplicable, NOT_APPLICABLE } from './compose.js';
export {
  DecisionCache,
  cached,
  type DecisionCacheOptions,
  type DecisionCacheStats,
  type CachedPolicy,
  type CachedAnswer,
} from './cache.js';
export { defaultCacheKey } from './cache-key.js';
export {
  CedarPolicy,
  cedarPolicy,
  toCedarValue,
  cedarDecimal,
  PreparedCedarContext,
  type CedarPolicyOptions,
  type CedarMapping,
  type CedarEntityUid,
  type CedarRequest,
  type CedarAnswer,
  type CedarError,
  type CedarDiagnostic,
  type CedarPolicyEvents,
  type FractionMode,
  type CedarContextError,
} from './cedar/policy.js';
export {
  authzenPolicy,
  opaPolicy,
  authzenRequest,
  type AuthzenPolicyOptions,
  type AuthzenMapping,
  type AuthzenRequest,
  type AuthzenResponse,
  type OpaPolicyOptions,
  type HttpPolicy,
  type PdpTlsOptions,
} from './http-pdp.js';
export { subjectId, actionName, resourceId, contextFacts, jsonInput, commonName } from './facts.js';
export { ContinuousTlsError, errorCodes } from '../common/errors.js';
export type { ErrorCode } from '../common/errors.js';
export type * from '../common/types.js';
