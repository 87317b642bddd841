/** The Shared Signals (CAEP) receiver: what lib/fleet/index.ts re-exports. */
export {
  ssfReceiver,
  SsfReceiver,
  type SsfReceiverOptions,
  type SsfReceiverEvents,
  type SsfEvent,
  type SsfPushAuthorization,
} from './receiver.js';
export type { VerifiedSet, SetClaims, SsfErrorCode } from './set-verify.js';
export type { SsfPollOptions, SsfPollHandle } from './poll.js';
export { discoverTransmitter, type TransmitterMetadata } from './discovery.js';
export type { SsfMappedEvent } from './caep.js';
