/** The Shared Signals (CAEP) receiver: what lib/fleet/index.ts re-exports. */
export {
  ssfReceiver,
  SsfReceiver,
  type SsfReceiverOptions,
  type SsfReceiverEvents,
  type ReceivedEvent,
  type PushAuthorization,
} from './receiver.js';
export type { VerifiedSet, SetClaims, SsfErrorCode } from './set-verify.js';
export type { PollOptions, PollHandle } from './poll.js';
export { discoverTransmitter, type TransmitterMetadata } from './discovery.js';
export type { MappedEvent } from './caep.js';
