/**
 * ssfReceiver(): receives CAEP security events from an identity provider (a Shared Signals
 * transmitter) by push (RFC 8935) or poll (RFC 8936), verifies each SET, drops replays, and turns
 * each event into a fleet event (caep.ts) that every process of the fleet applies. Without a fleet
 * it only verifies and reports what it received.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidOption } from '../../common/errors.js';
import { checkCount, checkDuration, checkObject, checkString } from '../../common/validate.js';
import type { Fleet, FleetEvent } from '../types.js';
import { mapSet, type SsfMappedEvent } from './caep.js';
import { discoverTransmitter, type TransmitterMetadata } from './discovery.js';
import { requestTransmitter, transmitterError } from './fetch-json.js';
import { answerPush, pushHandler, sendPushAnswer, type PushCore } from './push.js';
import { startPolling, type SsfPollHandle, type SsfPollOptions } from './poll.js';
import { FleetReplayStore, MemoryReplayStore, replayKey, type ReplayStore } from './replay.js';
import { SetVerifier, setInvalid, tooOld, type SetVerifierOptions, type VerifiedSet } from './set-verify.js';
import { timerDelay } from '../../common/timers.js';

/** Fleet events that only cut: applying one late, or again, admits nothing. */
const REVOCATIONS: ReadonlySet<FleetEvent['type']> = new Set(['certificate-revoked', 'subject-revoked']);

export type SsfPushAuthorization =
  string | ((authorization: string | undefined, req: IncomingMessage) => boolean | Promise<boolean>);

export interface SsfReceiverOptions extends SetVerifierOptions {
  /** Where events are applied; without it the receiver only verifies and emits. */
  fleet?: Fleet;
  /**
   * Authenticates the transmitter on the push endpoint: the exact Authorization header value it
   * must send (RFC 8935 leaves the scheme to the deployment), or a function that decides.
   */
  authorization?: SsfPushAuthorization;
  /** Largest push body accepted (bytes, default 65 536). */
  maxBodyBytes?: number;
  /** How long a push body may take to arrive (ms, default 10 000). */
  bodyTimeout?: number;
  /** Replay entries kept in this process's memory (default 100 000). */
  replayCacheSize?: number;
  /** The Authorization header value for requests to the transmitter (discovery, verification). */
  transmitterAuthorization?: string;
}

/** One event of a received SET, reported on 'event'. */
export interface SsfEvent extends SsfMappedEvent {
  set: VerifiedSet;
  via: 'push' | 'poll' | 'direct';
  /**
   * The SET's jti was seen before: acknowledged, and not applied again. With a fleet, a SET another
   * process applied is not applied here; one arriving while another process is still applying it is
   * applied here too and, when the other settles first, reported as a duplicate with `applied` true.
   */
  duplicate: boolean;
  /** The fleet applied `action`. */
  applied: boolean;
}

export interface SsfReceiverEvents {
  event: [SsfEvent];
  error: [Error];
}

/** The part of a Fastify instance the plugin uses. */
export interface SsfFastifyInstance {
  removeAllContentTypeParsers(): unknown;
  addContentTypeParser(
    type: string,
    parser: (req: unknown, payload: unknown, done: (e: null) => void) => void,
  ): unknown;
  post(path: string, handler: (request: { raw: IncomingMessage }, reply: SsfFastifyReply) => Promise<unknown>): unknown;
}
export interface SsfFastifyReply {
  code(status: number): SsfFastifyReply;
  headers(values: Record<string, string>): SsfFastifyReply;
  send(payload?: unknown): SsfFastifyReply;
}

export class SsfReceiver extends EventEmitter<SsfReceiverEvents> implements PushCore {
  readonly issuer: string;
  readonly audience: string;
  readonly maxBodyBytes: number;
  readonly bodyTimeout: number;
  /** The node:http handler of the push endpoint. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** The push endpoint as a Fastify plugin: `app.register(receiver.fastify, { prefix: '/ssf' })`. */
  readonly fastify: (instance: SsfFastifyInstance, opts: Record<string, unknown>) => Promise<void>;
  readonly #verifier: SetVerifier;
  readonly #fleet: Fleet | undefined;
  readonly #replay: ReplayStore;
  readonly #authorization: SsfPushAuthorization | undefined;
  readonly #transmitterAuthorization: string | undefined;
  readonly #pending = new Map<string, (set: VerifiedSet) => void>();
  readonly #polls = new Set<SsfPollHandle>();
  /** Deliveries of a jti being applied now, by replay key. */
  readonly #applying = new Map<string, Promise<unknown>>();
  #metadata: TransmitterMetadata | undefined;

  constructor(options: SsfReceiverOptions) {
    super();
    if (checkObject('options', options) === undefined) throw invalidOption('options', 'an object', options);
    this.#verifier = new SetVerifier(options);
    this.issuer = this.#verifier.issuer;
    this.audience = this.#verifier.audience;
    this.maxBodyBytes = checkCount('maxBodyBytes', options.maxBodyBytes, 65_536);
    this.bodyTimeout = checkDuration('bodyTimeout', options.bodyTimeout, 10_000);
    const { fleet, authorization } = options;
    if (fleet !== undefined && (fleet === null || typeof fleet.claimOnce !== 'function'))
      throw invalidOption('fleet', 'a Fleet (from createFleet)', fleet);
    if (authorization !== undefined && typeof authorization !== 'function')
      checkString('authorization', authorization, { nonEmpty: true });
    this.#fleet = fleet;
    this.#authorization = authorization;
    this.#transmitterAuthorization = checkString('transmitterAuthorization', options.transmitterAuthorization);
    const replayCacheSize = checkCount('replayCacheSize', options.replayCacheSize, 100_000);
    this.#replay =
      fleet !== undefined ? new FleetReplayStore(fleet, replayCacheSize) : new MemoryReplayStore(replayCacheSize);
    this.handler = pushHandler(this);
    this.fastify = async (instance) => {
      // Encapsulated: the catch-all parser leaves the body to the endpoint, which bounds it.
      instance.removeAllContentTypeParsers();
      instance.addContentTypeParser('*', (_req, _payload, done) => done(null));
      instance.post('/', async (request, reply) => {
        const answer = await answerPush(this, request.raw);
        return reply
          .code(answer.status)
          .headers(answer.headers)
          .send(answer.body === '' ? undefined : answer.body);
      });
    };
  }

  /** The node:http handler of the push endpoint (`http.createServer(receiver.node())`). */
  node(): (req: IncomingMessage, res: ServerResponse) => void {
    return this.handler;
  }

  /** The push endpoint as Express middleware (`app.post('/ssf', receiver.express())`). */
  express(): (req: IncomingMessage & { body?: unknown }, res: ServerResponse, next: (err?: unknown) => void) => void {
    return (req, res, next) => {
      // A body parser that ran first (express.text/raw for this type) has read the body already.
      const body = typeof req.body === 'string' || Buffer.isBuffer(req.body) ? req.body : undefined;
      answerPush(this, req, body).then((answer) => sendPushAnswer(res, answer), next);
    };
  }

  /** Verifies a SET without applying it: the verified SET, or ERR_CTLS_SET_INVALID with `ssfError`. */
  verify(token: string): Promise<VerifiedSet> {
    return this.#verifier.verify(token);
  }

  /**
   * Verifies, drops a replay, maps and applies one SET received by any means. Rejects with
   * ERR_CTLS_SET_INVALID for a refused SET; with the fleet's error when it could not be applied
   * (the SET is then not remembered, so the transmitter's retry is applied).
   */
  async receive(token: string, via: SsfEvent['via'] = 'direct'): Promise<SsfEvent[]> {
    try {
      return await this.#receive(token, via);
    } catch (err) {
      this.report(err as Error);
      throw err;
    }
  }

  async #receive(token: string, via: SsfEvent['via']): Promise<SsfEvent[]> {
    const { set, late } = await this.#verifier.verifyLate(token);
    const now = Date.now();
    const mapped = mapSet(set, now, this.#verifier.clockTolerance);
    // A SET older than maxAge comes after an outage of the receiver or the transmitter. Refused, the
    // transmitter drops it for good (RFC 8935 section 2.3), so one that only revokes is applied
    // anyway: a revocation applied again cuts nothing more. Anything else late is refused.
    if (late && !mapped.every((event) => event.action !== null && REVOCATIONS.has(event.action.type))) throw tooOld();
    const { duplicate, fresh, applied } = await this.#serialized(replayKey(set.claims.iss, set.claims.jti), () =>
      this.#apply(set, mapped),
    );
    const received: SsfEvent[] = mapped.map((event, i) => ({
      ...event,
      set,
      via,
      duplicate,
      applied: applied[i] === true,
    }));
    for (const event of received) {
      if (fresh && event.verificationState !== undefined) this.#pending.get(event.verificationState)?.(set);
      this.emit('event', event);
    }
    return received;
  }

  /**
   * Runs deliveries of one jti one after the other: a copy arriving while the first is being applied
   * waits for its outcome, so it is a duplicate only if the first was applied, and applies the SET
   * itself if the first failed (acknowledged as a duplicate at once, a failed first would be lost).
   */
  async #serialized<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#applying.get(key);
    const mine = (previous === undefined ? work() : previous.then(work, work)) as Promise<T>;
    this.#applying.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.#applying.get(key) === mine) this.#applying.delete(key);
    }
  }

  async #apply(
    set: VerifiedSet,
    mapped: SsfMappedEvent[],
  ): Promise<{ duplicate: boolean; fresh: boolean; applied: boolean[] }> {
    const { iss, jti } = set.claims;
    const window = this.#verifier.replayWindow;
    const fresh = await this.#replay.claim(iss, jti, window);
    const applied = mapped.map(() => false);
    if (fresh && this.#fleet !== undefined) {
      const fleet = this.#fleet;
      try {
        for (const [i, event] of mapped.entries()) {
          if (event.action === null) continue;
          await applyToFleet(fleet, event.action);
          applied[i] = true;
        }
      } catch (err) {
        // Not remembered: the transmitter's retry is applied (events applied already are idempotent).
        this.#replay.release(iss, jti);
        // The fleet refusing the event itself (too large, a subject it cannot index) will refuse every
        // retry too: the SET is refused, so the transmitter stops sending it instead of looping.
        const code = (err as { code?: unknown }).code;
        if (code === 'ERR_CTLS_FLEET_BAD_EVENT' || code === 'ERR_CTLS_BAD_SUBJECT')
          throw setInvalid('invalid_request', (err as Error).message);
        throw err;
      }
    }
    // Claimed fleet-wide for good only once applied (see FleetReplayStore): a claim already there is a duplicate.
    const duplicate = !fresh || !(await this.#replay.settle(iss, jti, window));
    return { duplicate, fresh, applied };
  }

  /** Authenticates a push request against the `authorization` option. */
  async authenticate(req: IncomingMessage): Promise<boolean> {
    const expected = this.#authorization;
    if (expected === undefined) return true;
    const header = req.headers.authorization;
    if (typeof expected === 'function') {
      try {
        return (await expected(header, req)) === true;
      } catch {
        return false;
      }
    }
    return header !== undefined && sameSecret(header, expected);
  }

  /** Starts an RFC 8936 poll loop feeding this receiver. */
  poll(options: SsfPollOptions): SsfPollHandle {
    const handle = startPolling(this, options);
    this.#polls.add(handle);
    return {
      get running() {
        return handle.running;
      },
      stop: async () => {
        this.#polls.delete(handle);
        await handle.stop();
      },
    };
  }

  /** Reads the transmitter's `/.well-known/ssf-configuration` (default: this receiver's issuer). */
  async discover(issuer: string = this.issuer): Promise<TransmitterMetadata> {
    const metadata = await discoverTransmitter(issuer, { authorization: this.#transmitterAuthorization });
    if (issuer === this.issuer) this.#metadata = metadata;
    return metadata;
  }

  /**
   * Asks the transmitter for a stream verification event (SSF 1.0) and resolves with the
   * verification SET once it arrives here, by push or poll, carrying the state sent.
   */
  async requestVerification(options: { streamId?: string; timeout?: number } = {}): Promise<VerifiedSet> {
    const timeout = checkDuration('timeout', options.timeout, 30_000);
    const metadata = this.#metadata ?? (await this.discover());
    const endpoint = metadata.verification_endpoint;
    if (endpoint === undefined) throw transmitterError('verification: the transmitter has no verification_endpoint');
    const state = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<VerifiedSet>((resolve, reject) => {
      this.#pending.set(state, resolve);
      timer = setTimeout(
        () => reject(transmitterError('verification: no verification event arrived in time')),
        timerDelay(timeout),
      );
    });
    // A verification event arriving before the request returns is already waited for.
    arrived.catch(() => {});
    try {
      const body: Record<string, string> = { state };
      if (options.streamId !== undefined) body['stream_id'] = options.streamId;
      const { status } = await requestTransmitter('verification', endpoint, {
        method: 'POST',
        authorization: this.#transmitterAuthorization,
        json: body,
        timeout,
        maxBytes: 16_384,
      });
      if (status < 200 || status > 299) throw transmitterError(`verification: the transmitter answered ${status}`);
      return await arrived;
    } finally {
      clearTimeout(timer);
      this.#pending.delete(state);
    }
  }

  /** Stops every poll loop this receiver started. */
  async close(): Promise<void> {
    await Promise.all([...this.#polls].map((handle) => handle.stop()));
    this.#polls.clear();
  }

  /** Reports a failure on 'error' when someone listens: a peer's bad SET must never crash the process. */
  report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

export function ssfReceiver(options: SsfReceiverOptions): SsfReceiver {
  return new SsfReceiver(options);
}

function applyToFleet(fleet: Fleet, action: FleetEvent): Promise<unknown> {
  switch (action.type) {
    case 'subject-revoked':
      return fleet.revokeSubject(action.subject, {
        before: action.before,
        ...(action.reason === undefined ? {} : { reason: action.reason }),
      });
    case 'certificate-revoked': {
      const { type: _type, ...revocation } = action;
      return fleet.revokeCertificate(revocation);
    }
    default:
      return fleet.publish(action);
  }
}

/** Compares digests so the time taken says nothing about how much of the secret matched. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
