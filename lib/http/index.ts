/**
 * `continuous-tls/http`: authorization of every request of a REST API (node:http(s), Express,
 * Fastify) with its metrics and audit events. It loads no native code, so an API on plain
 * node:https needs no C++ build.
 */
export { authorizeRequest } from './authorize-request.js';
export type {
  AuthorizeRequestOptions,
  RequestAuthorizer,
  RequestAuthorization,
  RequestOutcome,
  StepUpObligation,
  JwtOptions,
  RequestRefusal,
  DenyHook,
  ExpressMiddleware,
  ExpressMountOptions,
  FastifyAuthorizeOptions,
  FastifyAuthorizePlugin,
} from './authorize-request.js';
export { DecisionMetrics, createDecisionMetrics } from './metrics.js';
export type { DecisionMetricsOptions, ObservedSource } from './metrics.js';
export { channels } from '../authz/observe.js';
export type { Tier, DecisionMessage, ReauthenticationMessage, TrustChangeMessage } from '../authz/observe.js';
export type { Logger } from '../common/logger.js';
export { decisionEvent } from '../authz/audit-event.js';
export type { AuditEvent } from '../authz/audit-event.js';
export { ContinuousTlsError, errorCodes } from '../common/errors.js';
export type { ErrorCode } from '../common/errors.js';
export type * from '../common/types.js';
