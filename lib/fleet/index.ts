/**
 * `continuous-tls/fleet`: one revocation for every process of a fleet, over Redis Streams.
 */
export { createFleet } from './fleet.js';
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
} from './types.js';
export type { ComplexSubject } from './subject-id.js';
export { ssfReceiver, SsfReceiver, discoverTransmitter } from './ssf/index.js';
export type {
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
} from './ssf/index.js';
export { ContinuousTlsError, errorCodes } from '../common/errors.js';
export type { ErrorCode } from '../common/errors.js';
