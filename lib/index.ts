export { createServer, Server } from './server.js';
export type { ServerOptions, SecureConnectionListener } from './server.js';
export { connect } from './client.js';
export type { ConnectOptions } from './client.js';
export { IdentityAgent, identityAgent, identityConnector, setIdentity } from './identity-agent.js';
export type {
  IdentityAgentOptions,
  IdentityAgentPoolOptions,
  IdentityConnector,
  IdentityConnectorOptions,
  IdentityTlsOptions,
} from './identity-agent.js';
export { TLSSocket } from './tls/socket.js';
export type { PeerCertificateResult, Identity, TLSSocketOptions } from './tls/socket.js';
export type { IdentityProvider, IdentityRequest } from './tls/identity.js';
export { createSecureContext, SecureContext } from './tls/context.js';
export type { SecureContextOptions, TlsVersion, RevocationMode, VerifyOutcome } from './tls/context.js';
export { ContinuousTlsError, errorCodes } from './common/errors.js';
export type { ErrorCode } from './common/errors.js';
export { opensslVersion } from './tls/native.js';
export type * from './common/types.js';
export { reauthorize } from './reauthorize.js';
export { attach } from './attach.js';
export type { Attachment, AttachOptions } from './attach.js';
export type { ReauthorizeOptions, ReauthorizeSchedule, DecisionEvent } from './reauthorize.js';
export { Authorizer } from './authz/authorizer.js';
export { Scheduler } from './authz/schedule.js';
export { inspectHandler } from './authz/inspect-handler.js';
export type { InspectHandlerOptions, InspectRequestHandler, InspectTarget } from './authz/inspect-handler.js';
export type { InspectReport, InspectedConnection, InspectedDecision, InspectedPeer } from './authz/inspect.js';
export * from './policy/index.js';
export { authorizeRequest } from './http/authorize-request.js';
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
} from './http/authorize-request.js';
export { DecisionMetrics, createDecisionMetrics } from './http/metrics.js';
export { decisionEvent } from './authz/audit-event.js';
export type { AuditEvent } from './authz/audit-event.js';
export type { DecisionMetricsOptions, ObservedSource } from './http/metrics.js';
export { channels } from './authz/observe.js';
export type { Tier, DecisionMessage, ReauthenticationMessage, TrustChangeMessage } from './authz/observe.js';
export type { Logger } from './common/logger.js';
export { startPdpServer } from './dev/pdp-server.js';
export type { PdpServerOptions, PdpServer } from './dev/pdp-server.js';
export { DevelopmentCA } from './dev/pki.js';
export type { IssuedIdentity, IssueOptions, SubjectFields } from './dev/pki.js';
export { createFleet } from './fleet/fleet.js';
export type {
  CertificateRevokedEvent,
  CrlEvent,
  Fleet,
  FleetEntry,
  FleetEvent,
  FleetOptions,
  FleetReceipt,
  FleetStatus,
  FleetTarget,
  PolicyInvalidatedEvent,
  RedisTarget,
  SignalsEvent,
  StalenessMode,
  SubjectIdentifier,
  SubjectMapper,
  SubjectRevokedEvent,
  ComplexSubject,
  SsfReceiverOptions,
  SsfReceiverEvents,
  SsfEvent,
  SsfMappedEvent,
  SsfPushAuthorization,
  SsfPollOptions,
  SsfPollHandle,
  SsfErrorCode,
  VerifiedSet,
  SetClaims,
  TransmitterMetadata,
} from './fleet/index.js';
export { ssfReceiver, SsfReceiver, discoverTransmitter } from './fleet/index.js';
