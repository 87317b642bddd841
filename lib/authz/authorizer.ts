/**
 * The authorization engine shared by both tiers. Every connection carries a
 * Decision with an expiry; the engine re-decides on a schedule, at expiry, on
 * trust or policy changes and on demand, and holds the connection's data
 * while a decision is pending or lapsed. A denial cuts the connection.
 *
 * This file is the decision flow (sweep, join, decide, conclude) and the typed-event declarations
 * that must sit beside the class; each unit it relies on has its own file in this directory.
 */
import type { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ctlsError, invalidOption, warnOfFailure } from '../common/errors.js';
import { checkDuration } from '../common/validate.js';
import type { SecureContext } from '../tls/context.js';
import { evaluatePolicy, isPolicy } from '../policy/evaluate.js';
import { Scheduler } from './schedule.js';
import { scheduleOptions, type FreshFallback, type ReauthorizeSchedule } from './schedule-options.js';
import { ChainVerifier, type ChainVerdict } from './chain-verdict.js';
import { deauthorizedError, decisionFrom, denial, freshFailureReason } from './decision.js';
import type { PolicyAnswer, Question } from './decision.js';
import { holdKey, holdsData, joinable, stampOf, stillHolds, type PendingDecision } from './pending-decisions.js';
import { policyInput } from './policy-input.js';
import { RecheckTimers } from './recheck-timers.js';
import { EngineWarnings } from './engine-warnings.js';
import type { AuthorizationSubject } from './subject.js';
import type { Decision, DecisionSource, Policy, Trigger } from '../common/types.js';
import { connectionDecisionEvent, type DecisionEvent } from './audit-event.js';
import { Observer } from './observe.js';
import { GuardSet, KeyIndex, sameVerdict, type DecisionGuard, type GuardFacts, type GuardVerdict } from './guard.js';
import { checkLogger, type Logger } from '../common/logger.js';
export type { DecisionEvent } from './audit-event.js';
export type { ReauthorizeSchedule } from './schedule-options.js';

export interface ReauthorizeOptions {
  fresh?: boolean;
  reason?: string;
  timeout?: number;
  destroyOnDeny?: boolean;
  context?: Record<string, unknown>;
  /** Verified claims of a bearer token bound to this connection; its `exp` bounds the decision. */
  token?: Record<string, unknown>;
  fallback?: FreshFallback;
}

export interface AuthorizerOptions {
  trust: SecureContext;
  policy?: Policy;
  reauthorize?: ReauthorizeSchedule;
  /** Timeout for one policy evaluation (default 200 ms); a late policy denies. */
  policyTimeout?: number;
  /** Deny when the chain fails verification (node's rejectUnauthorized; default true). */
  requireVerified?: boolean;
  /** Deny a peer that presented no certificate (default: the server's requestCert). */
  requireCertificate?: boolean;
  scheduler?: Scheduler;
  /**
   * Whether anyone downstream wants 'decision' audit events, for an owner that forwards them (a
   * server re-emitting them as its own). Without listeners the event is not built: after a CRL
   * swap that is thousands of events nobody reads. Default: this engine has 'decision' listeners.
   */
  auditWanted?: () => boolean;
  /** Which tier this engine decides for, in its diagnostics (default 'owned'). */
  tier?: 'owned' | 'attached';
  /** A pino-compatible logger: decisions, warnings and engine errors (see docs/api.md, Observability). */
  logger?: Logger;
}

/** One live connection as the engine sees it (Authorizer#liveConnections). */
export interface ConnectionView {
  readonly subject: AuthorizationSubject;
  readonly decision: Decision | null;
  readonly reauthCount: number;
  /** The re-check due first: at epoch ms on the engine's clock. */
  readonly nextCheck: { at: number; kind: 'interval' | 'expiry' } | null;
}

type DecideOptions = ReauthorizeOptions & { trigger: Trigger; fresh: boolean };

interface ConnectionState {
  subject: AuthorizationSubject;
  decision: Decision | null;
  reauthCount: number;
  pending: PendingDecision[];
  timers: RecheckTimers;
  context: Record<string, unknown>;
  token: Record<string, unknown> | undefined;
  denied: boolean;
  /** Decisions started on this connection, in order; `concluded` is the newest that concluded. */
  started: number;
  concluded: number;
  /** The latest verdict on the peer's chain (what guardChain adds the built chain from). */
  verdict: ChainVerdict | null;
  /** The trust context this connection is counted under in #watched (its own, as last seen). */
  watching: SecureContext;
}

/** The events an Authorizer emits, with their listeners. */
export interface AuthorizerEvents {
  /** A decision concluded (only built while someone listens, see auditWanted). */
  decision: (event: DecisionEvent, socket: AuthorizationSubject['socket']) => void;
  /** A condition that does not deny but needs an operator (a stale CRL, a chain node hid). */
  warning: (warning: Error) => void;
}

type EventName = keyof AuthorizerEvents;

/** Typed listeners, declared beside the class (declaration merging). */
export interface Authorizer {
  on<K extends EventName>(event: K, listener: AuthorizerEvents[K]): this;
  once<K extends EventName>(event: K, listener: AuthorizerEvents[K]): this;
  addListener<K extends EventName>(event: K, listener: AuthorizerEvents[K]): this;
  prependListener<K extends EventName>(event: K, listener: AuthorizerEvents[K]): this;
  prependOnceListener<K extends EventName>(event: K, listener: AuthorizerEvents[K]): this;
  off<K extends EventName>(event: K, listener: AuthorizerEvents[K]): this;
  removeListener<K extends EventName>(event: K, listener: AuthorizerEvents[K]): this;
  emit<K extends EventName>(event: K, ...args: Parameters<AuthorizerEvents[K]>): boolean;
}

const DEFAULT_POLICY_TIMEOUT_MS = 200;
/** How often one decision is made again because its trust changed while it was pending. */
const MAX_DECISION_ROUNDS = 16;

/** What the guards said to a decision, and of which chain (unset: decided before they were asked). */
interface GuardsSeen {
  chain?: readonly X509Certificate[];
  verdict?: GuardVerdict;
}
/** Smaller trust change sweeps verify each chain where it is decided (see #sweep). */
const PREFETCH_MIN_CONNECTIONS = 8;
const HOLD_LAPSED = 'lapsed';
const HOLD_SWEEP = 'trust-change';

export class Authorizer extends EventEmitter {
  /** The trust context the engine was created with (connections may be served with another: SNI). */
  readonly trust: SecureContext;
  readonly scheduler: Scheduler;
  #policy: Policy | undefined;
  #policyGeneration = 0;
  #schedule: Required<ReauthorizeSchedule>;
  #policyTimeout: number;
  #requireVerified: boolean;
  #requireCertificate: boolean;
  readonly #auditWanted: (() => boolean) | null;
  #states = new Map<object, ConnectionState>();
  readonly #verifier = new ChainVerifier();
  /** The tier this engine decides for (its sockets' own kind is what their diagnostics report). */
  readonly tier: 'owned' | 'attached';
  readonly #observer: Observer;
  readonly #warnings = new EngineWarnings((warning) => {
    this.#observer.warning(this.tier, warning);
    this.emit('warning', warning);
  });
  /** Decisions in flight, over every connection (a gauge of DecisionMetrics). */
  #pending = 0;
  #unsubscribePolicy: (() => void) | null = null;
  /** close() ran: nothing is tracked, and nothing (a policy's reloads, a trust change) is followed again. */
  #closed = false;
  /**
   * Trust contexts whose changes this engine follows: its own, and each one (an SNI context) a live
   * connection is served with, counted, so a context is let go with its last connection.
   */
  #watched = new Map<SecureContext, { unsubscribe: () => void; users: number }>();
  /** Outside facts every decision consults (a fleet's revocations and signals), see guard.ts. */
  readonly #guards = new GuardSet();
  /** Live connections by their guards' index keys (serials, subject identifiers). */
  readonly #index = new KeyIndex<ConnectionState>();
  /** The sweep started for each context's latest trust generation. */
  #sweeps = new Map<SecureContext, { generation: number; promise: Promise<Decision[]> }>();
  readonly #now = (): number => this.scheduler.now();

  constructor(options: AuthorizerOptions) {
    super();
    this.trust = options.trust;
    this.scheduler = options.scheduler ?? new Scheduler();
    this.#schedule = scheduleOptions(options.reauthorize);
    this.#policyTimeout = checkDuration('policyTimeout', options.policyTimeout, DEFAULT_POLICY_TIMEOUT_MS);
    this.#requireVerified = options.requireVerified ?? true;
    this.#requireCertificate = options.requireCertificate ?? false;
    this.#auditWanted = options.auditWanted ?? null;
    this.tier = options.tier === 'attached' ? 'attached' : 'owned';
    this.#observer = new Observer(checkLogger(options.logger));
    this.#watch(this.trust);
    this.setPolicy(options.policy, false);
  }

  get policy(): Policy | undefined {
    return this.#policy;
  }

  /** Swap the policy; with `recheck` every live connection is re-decided at once. */
  setPolicy(policy: Policy | undefined, recheck = true): Promise<Decision[]> {
    if (policy !== undefined && !isPolicy(policy))
      throw invalidOption('policy', 'a function or an adapter with evaluate()', policy);
    this.#unsubscribePolicy?.();
    this.#unsubscribePolicy = null;
    this.#policy = policy;
    this.#policyGeneration++;
    if (!this.#closed) this.#followPolicy();
    return recheck ? this.recheckAll('policy-change') : Promise.resolve([]);
  }

  /** A policy that reloads itself (Cedar file watch) re-decides live connections too. */
  #followPolicy(): void {
    const policy = this.#policy;
    if (policy === undefined || typeof policy !== 'object' || typeof policy.onChange !== 'function') return;
    this.#unsubscribePolicy = policy.onChange(() => {
      this.#policyGeneration++;
      void this.recheckAll('policy-change');
    });
  }

  /**
   * A closed engine given a connection again (a server that listens again after close()) follows
   * its trust and policy again: the connections it tracks from now on are re-decided as before.
   */
  #reopen(): void {
    this.#closed = false;
    this.#watch(this.trust);
    this.#followPolicy();
  }

  /**
   * Trust (CA/CRL) of `trust` changed (default: the engine's own context): forget verdicts made
   * under it and re-decide every connection served with it now. Calls for the same change share
   * one sweep: the context itself reports its changes, and so may its owner.
   */
  trustChanged(trust: SecureContext = this.trust): Promise<Decision[]> {
    // After close() no connection is tracked: there is nothing to re-decide, nor a sweep to share.
    if (this.#closed) return Promise.resolve([]);
    const sweep = this.#sweeps.get(trust);
    if (sweep !== undefined && sweep.generation === trust.trustGeneration) return sweep.promise;
    this.#warnings.trustChanged();
    flushPolicyCache(this.#policy);
    const promise = this.#sweep('revocation', this.#states.values(), (state) => state.subject.trust === trust, true);
    this.#sweeps.set(trust, { generation: trust.trustGeneration, promise });
    return promise;
  }

  /** Re-decide every live connection (revalidation, not fresh). */
  recheckAll(trigger: Trigger): Promise<Decision[]> {
    return this.#sweep(trigger, this.#states.values());
  }

  /** Forget every cached policy answer and re-decide every live connection. */
  invalidatePolicy(): Promise<Decision[]> {
    flushPolicyCache(this.#policy);
    this.#policyGeneration++;
    return this.recheckAll('policy-change');
  }

  /**
   * Adds a guard that every later decision consults. Decisions pending now are made again (the
   * guard set is part of their stamp); live connections keep their decision until their next
   * check or until the guard names them through recheckKeys().
   */
  addGuard(guard: DecisionGuard): void {
    if (!this.#guards.add(guard)) return;
    for (const state of this.#states.values()) if (state.decision !== null) this.#indexState(state);
  }

  removeGuard(guard: DecisionGuard): void {
    if (!this.#guards.remove(guard)) return;
    if (this.#guards.size === 0) this.#index.clear();
    else for (const state of this.#states.values()) if (state.decision !== null) this.#indexState(state);
  }

  /**
   * Re-decide the live connections indexed under any of `keys` (a guard's change names them),
   * without looking at the others.
   */
  recheckKeys(keys: Iterable<string>, trigger: Trigger): Promise<Decision[]> {
    return this.#sweep(trigger, this.#index.lookup(keys));
  }

  /**
   * Holds the data of every affected connection at once, before the caller's setCrl()/setPolicy()
   * returns, then re-decides them one hop later, so that no connection is concluded (and maybe
   * destroyed) inside that call. Connections whose first decision is still pending are included:
   * that decision is made again under the new trust (see Stamp). `newTrust`: the sweep follows a
   * swap of the store the connections verify against, so every distinct chain needs OpenSSL again.
   */
  async #sweep(
    trigger: Trigger,
    candidates: Iterable<ConnectionState>,
    affected?: (state: ConnectionState) => boolean,
    newTrust = false,
  ): Promise<Decision[]> {
    const states: ConnectionState[] = [];
    for (const state of candidates) {
      if (state.denied || (affected !== undefined && !affected(state))) continue;
      state.subject.hold(HOLD_SWEEP);
      states.push(state);
    }
    await undefined;
    // After a CRL or CA swap, OpenSSL has to judge each distinct chain again, and no cache can
    // answer for the new store: they are verified off the event loop first, in parallel, while the
    // sweep holds every connection it re-decides (see ChainVerifier#prefetch). Other sweeps find
    // their chains in the verified-chain cache. Should this fail, each decision verifies its own.
    if (newTrust && states.length >= PREFETCH_MIN_CONNECTIONS) {
      try {
        await this.#verifier.prefetch(
          states.map((state) => state.subject),
          this.#now,
        );
      } catch (error) {
        this.#observer.error(this.tier, error, 'continuous-tls: verifying a trust change in the background failed');
      }
    }
    // Then connections that need no policy are decided synchronously: a CRL swap costs no promise
    // per connection.
    const checks: Array<Decision | Promise<Decision>> = [];
    for (const state of states) {
      if (!this.#isLive(state) && state.subject.destroyed) {
        // Closed during the hop: nothing is left to decide, and the sweep's hold goes with it.
        state.subject.release(HOLD_SWEEP);
        continue;
      }
      // Detached during the hop (close()), the connection is still re-decided: the trust change
      // was asked for before, and its decision is in flight as far as the caller knows. It then
      // concludes as any decision close() let go does (a denial closes it, an allow releases it).
      try {
        checks.push(this.#decideShared(state, { trigger, fresh: false }, true));
      } catch (error) {
        // A socket whose destroy() throws (an app's override) must not keep the others undecided.
        warnOfFailure('re-deciding a connection after a trust change threw', error, undefined);
      } finally {
        // Whatever happened to this connection, the sweep's own hold must not outlive it.
        state.subject.release(HOLD_SWEEP);
      }
    }
    return Promise.all(checks);
  }

  /** Start tracking a connection whose handshake just completed; resolves with its first decision. */
  admit(subject: AuthorizationSubject): Promise<Decision> {
    return Promise.resolve(this.#decideShared(this.#track(subject), { trigger: 'handshake', fresh: false }));
  }

  /**
   * admit(), with the first decision made and concluded before returning when nothing has to be
   * waited for (no policy): the caller can then hand the connection on in the same turn, as node
   * does once its own verification passed. Otherwise a promise, as from admit().
   */
  admitNow(subject: AuthorizationSubject): Decision | Promise<Decision> {
    return this.#decideShared(this.#track(subject), { trigger: 'handshake', fresh: false }, true);
  }

  #track(subject: AuthorizationSubject): ConnectionState {
    if (this.#closed) this.#reopen();
    const state: ConnectionState = {
      subject,
      decision: null,
      reauthCount: 0,
      pending: [],
      timers: new RecheckTimers(),
      context: {},
      token: undefined,
      denied: false,
      verdict: null,
      started: 0,
      concluded: 0,
      watching: subject.trust,
    };
    this.#states.set(subject.socket, state);
    this.#watch(state.watching);
    subject.socket.once('close', () => this.#forget(subject.socket));
    return state;
  }

  /**
   * A new certificate arrived on a tracked connection outside the engine's own fresh exchange
   * (e.g. app code called socket.requestCertificate()): nothing of it passes until the policy has
   * decided on it.
   */
  certificateChanged(socket: object): Promise<Decision> | null {
    const state = this.#states.get(socket);
    if (state === undefined) return null;
    return Promise.resolve(this.#decideShared(state, { trigger: 'certificate', fresh: false }));
  }

  isTracking(socket: object): boolean {
    return this.#states.has(socket);
  }

  /** The current decision of a tracked socket. */
  decisionOf(socket: object): Decision | null {
    return this.#states.get(socket)?.decision ?? null;
  }

  /** Live tracked sockets with their current decision. */
  connections(): Array<{ socket: AuthorizationSubject['socket']; decision: Decision | null }> {
    return [...this.#states.values()].map((state) => ({ socket: state.subject.socket, decision: state.decision }));
  }

  /** How many connections this engine tracks now. */
  get connectionCount(): number {
    return this.#states.size;
  }

  /** How many decisions are in flight now (waiting for a policy or a fresh certificate). */
  get pendingDecisions(): number {
    return this.#pending;
  }

  /** What inspect.ts reports of each live connection, read-only. */
  liveConnections(): ConnectionView[] {
    return [...this.#states.values()].map((s) => ({
      subject: s.subject,
      decision: s.decision,
      reauthCount: s.reauthCount,
      nextCheck: s.timers.next(),
    }));
  }

  /** reauthorize(socket, options) for a tracked socket. */
  reauthorize(socket: object, options: ReauthorizeOptions = {}): Promise<Decision> {
    const state = this.#states.get(socket);
    if (state === undefined) {
      return Promise.reject(
        ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket is not live (closed, or its handshake has not completed)'),
      );
    }
    // New signals make new inputs: a call that brings them never shares a decision made without them.
    if (options.context !== undefined) state.context = { ...state.context, ...options.context };
    if (options.token !== undefined) state.token = options.token;
    return Promise.resolve(this.#decideShared(state, { trigger: 'manual', ...options, fresh: options.fresh ?? false }));
  }

  close(): void {
    this.#closed = true;
    const unsubscribePolicy = this.#unsubscribePolicy;
    this.#unsubscribePolicy = null;
    try {
      unsubscribePolicy?.();
    } catch (error) {
      // The policy's own unsubscribe: its failure must not keep the connections below held.
      closeWarning('unsubscribing from the policy threw', error);
    }
    for (const { unsubscribe } of this.#watched.values()) {
      try {
        unsubscribe();
      } catch (error) {
        closeWarning('unsubscribing from a trust context threw', error);
      }
    }
    this.#watched.clear();
    this.#sweeps.clear();
    const states = [...this.#states.values()];
    for (const state of states) state.timers.cancel(this.scheduler);
    this.#states.clear();
    this.#index.clear();
    // A decision in flight still concludes (see #conclude); a connection allowed now stays open,
    // untracked; one held for good is closed, now or when its last decision in flight settles.
    for (const state of states) this.#closeIfStranded(state);
  }

  /**
   * A connection the engine no longer tracks (after close()) is decided by nothing again. Held with
   * no decision in force (lapsed, or denied and kept open) and none in flight, it would stay held
   * for good: it is closed. A socket whose destroy() throws does not stop the others being closed.
   */
  #closeIfStranded(state: ConnectionState): void {
    const { decision, subject } = state;
    if (state.pending.length > 0 || subject.destroyed) return;
    if (!state.denied && (decision === null || decision.expiresAt > this.#now())) return;
    try {
      subject.destroy(detachedError(state));
    } catch (error) {
      closeWarning('closing a connection left held by detach() threw', error);
    }
  }

  /**
   * Whether what the guards said to a decision still holds: unchanged guards, or changed ones that
   * still say the same of this peer. A fleet's change about one subject then sends back only the
   * decisions it concerns: a flood of events about others cannot keep a connection undecided.
   */
  #guardsStill(state: ConnectionState, generation: number, seen: GuardsSeen): boolean {
    if (seen.verdict === undefined || seen.chain === undefined || this.#guards.generation === generation) return true;
    const chain = guardChain(state.subject, seen.chain, state.verdict);
    const now = this.#guards.judge(this.#guardFacts(state, chain), this.scheduler.now());
    return sameVerdict(now, seen.verdict);
  }

  #guardFacts(state: ConnectionState, chain: readonly X509Certificate[]): GuardFacts {
    const { subject } = state;
    return { chain, token: state.token, connectionSince: subject.createdAt, tier: subject.kind };
  }

  /** Files a connection under its guards' keys for the chain and token it was last decided on. */
  #indexState(state: ConnectionState): void {
    if (this.#guards.size === 0) return;
    const chain = guardChain(state.subject, state.subject.peerChain(), state.verdict);
    this.#index.set(state, this.#guards.keys(this.#guardFacts(state, chain)));
  }

  #watch(trust: SecureContext): void {
    if (this.#closed) return;
    const watched = this.#watched.get(trust);
    if (watched !== undefined) {
      watched.users++;
      return;
    }
    const unsubscribe = trust.onTrustChange(() => {
      this.#observer.trustChange(this.tier, trust);
      void this.trustChanged(trust);
    });
    this.#watched.set(trust, { unsubscribe, users: 1 });
  }

  /** One connection served with `trust` is gone; the engine's own context is followed for good. */
  #unwatch(trust: SecureContext): void {
    const watched = this.#watched.get(trust);
    if (watched === undefined || --watched.users > 0 || trust === this.trust) return;
    watched.unsubscribe();
    this.#watched.delete(trust);
    this.#sweeps.delete(trust);
  }

  /** Whether `state` is still the engine's record of its connection (not forgotten at its close). */
  #isLive(state: ConnectionState): boolean {
    return this.#states.get(state.subject.socket) === state;
  }

  // ---- deciding ----------------------------------------------------------

  /**
   * Joins the decision in flight that answers the same question (see joinable), or starts one.
   * Joining makes the pending decision hold data if it did not already. With `sync`, a decision
   * that needs neither a fresh exchange nor a policy is made and concluded before returning.
   */
  #decideShared(state: ConnectionState, options: DecideOptions, sync = false): Decision | Promise<Decision> {
    const request = {
      fresh: options.fresh,
      destroyOnDeny: options.destroyOnDeny !== false,
      fallback: options.fallback ?? this.#schedule.fallback,
      context: state.context,
      token: state.token,
    };
    const hold = holdsData(options.trigger, options.fresh, state.decision, this.#now);
    const joined = joinable(state.pending, request);
    if (joined !== undefined) {
      if (!joined.held && hold) {
        joined.held = true;
        state.subject.hold(holdKey(joined.seq));
      }
      return joined.promise;
    }
    const seq = ++state.started;
    // A decision made and concluded in this turn leaves no moment for data to pass undecided.
    if (hold && !this.#decidesNow(options, sync)) state.subject.hold(holdKey(seq));
    const result = this.#decide(state, options, seq, sync);
    if (!(result instanceof Promise)) return result;
    const entry: PendingDecision = { ...request, seq, promise: result, held: hold };
    state.pending.push(entry);
    this.#pending++;
    entry.promise = result.finally(() => {
      this.#pending--;
      const index = state.pending.indexOf(entry);
      if (index >= 0) state.pending.splice(index, 1);
      // Concluded or superseded, the last decision of a connection close() let go may leave it held.
      if (!this.#isLive(state)) this.#closeIfStranded(state);
    });
    return entry.promise;
  }

  /** Whether a decision asked for `sync` is made and concluded before #decide returns. */
  #decidesNow(options: DecideOptions, sync: boolean): boolean {
    return sync && !options.fresh && this.#policy === undefined;
  }

  #decide(state: ConnectionState, options: DecideOptions, seq: number, sync: boolean): Decision | Promise<Decision> {
    const started = performance.now();
    if (this.#decidesNow(options, sync)) {
      // Made and concluded in this turn: nothing can change under it.
      let decision: Decision;
      try {
        decision = this.#settle(state, options, started, 'engine') as Decision;
      } catch (error) {
        this.#observer.error(state.subject.kind, error, 'continuous-tls: the decision failed inside the engine');
        decision = denial(options.trigger, 'policy-error', 'engine', started, undefined, error as Error);
      }
      return this.#finish(state, decision, options, seq);
    }
    return this.#decideLater(state, options, started, seq);
  }

  async #decideLater(state: ConnectionState, options: DecideOptions, started: number, seq: number): Promise<Decision> {
    let source: DecisionSource = 'engine';
    if (options.fresh) {
      try {
        const { subject } = state;
        const timeout = options.timeout ?? this.#schedule.timeout;
        await this.#observer.reauthenticate(subject.kind, options.trigger, subject.socket, timeout, () =>
          subject.requestFresh(timeout),
        );
        state.reauthCount++;
      } catch (error) {
        const code = (error as { code?: string }).code;
        const fallback = options.fallback ?? this.#schedule.fallback;
        if (code !== 'ERR_CTLS_FRESH_UNSUPPORTED' || fallback === 'deny') {
          const reason = freshFailureReason(error as Error & { code?: string; verifyError?: string });
          return this.#finish(
            state,
            denial(options.trigger, reason, 'engine', started, undefined, error as Error),
            options,
            seq,
          );
        }
        source = 'fallback';
      }
    }
    let decision: Decision;
    for (let round = 1; ; round++) {
      const stamp = stampOf(state.subject, this.#policyGeneration);
      const guardGeneration = this.#guards.generation;
      const seen: GuardsSeen = {};
      try {
        decision = await this.#settle(state, options, started, source, seen);
      } catch (error) {
        this.#observer.error(state.subject.kind, error, 'continuous-tls: the decision failed inside the engine');
        decision = denial(options.trigger, 'policy-error', 'engine', started, undefined, error as Error);
      }
      if (state.subject.destroyed) break;
      if (stillHolds(stamp, state.subject, this.#policyGeneration) && this.#guardsStill(state, guardGeneration, seen))
        break;
      if (round >= MAX_DECISION_ROUNDS) {
        // Trust keeps changing under this decision: it cannot be made on settled facts, so it denies.
        decision = denial(options.trigger, 'trust-unsettled', 'engine', started, seen.chain?.[0]);
        break;
      }
      // The trust, the policy, a guard's verdict or the certificate changed while the policy was
      // deciding: its answer is about inputs that are gone. Decide again, holding data meanwhile.
      const pending = state.pending.find((entry) => entry.seq === seq);
      if (pending !== undefined && !pending.held) {
        pending.held = true;
        state.subject.hold(holdKey(seq));
      }
    }
    return this.#finish(state, decision, options, seq);
  }

  /**
   * Concludes a decision in the order decisions were started: an allow that finishes after a newer
   * decision concluded answers its caller but changes nothing; a denial always applies.
   */
  #finish(state: ConnectionState, decision: Decision, options: DecideOptions, seq: number): Decision {
    const superseded = seq < state.concluded;
    if (!superseded || !decision.allow) {
      state.concluded = Math.max(state.concluded, seq);
      this.#conclude(state, decision, options);
    }
    // A denial kept open stays held by HOLD_LAPSED (see #conclude), not by its own decision's hold,
    // so that a later allow opens it again.
    state.subject.release(holdKey(seq));
    return decision;
  }

  /** Verification, then the policy if there is one: a Decision, or a promise of one for a policy. */
  #settle(
    state: ConnectionState,
    options: DecideOptions,
    started: number,
    source: DecisionSource,
    seen: GuardsSeen = {},
  ): Decision | Promise<Decision> {
    const { subject } = state;
    const { trigger } = options;
    if (subject.destroyed) return denial(trigger, 'connection-closed', 'engine', started);

    const trust = subject.trust;
    const chain = subject.peerChain();
    const leaf = chain[0];
    const now = this.scheduler.now();
    if (leaf === undefined && this.#requireCertificate) {
      return denial(trigger, 'no-certificate', 'verification', started);
    }
    const verdict: ChainVerdict =
      leaf === undefined ? { ok: false, code: 'NO_PEER_CERTIFICATE' } : this.#verifier.verdict(subject, chain, now);
    if (
      !verdict.ok &&
      verdict.code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' &&
      chain.length === 1 &&
      subject.kind === 'attached'
    ) {
      this.#warnings.loneLeaf();
    }
    const stale = trust.staleCrls(now);
    if (stale.length > 0) {
      if (trust.revocation === 'strict') return denial(trigger, 'crl-stale', 'verification', started, leaf);
      this.#warnings.staleCrls(stale.map((crl) => `${crl.issuer}@${crl.nextUpdate}`));
    }
    if (leaf !== undefined && !verdict.ok && this.#requireVerified) {
      return denial(trigger, verdict.code ?? 'UNSPECIFIED', 'verification', started, leaf);
    }

    // Outside facts (a fleet's revocations and signals) narrow what verification allowed, before
    // any policy or cache answers.
    state.verdict = verdict;
    const judged = this.#guards.size > 0 ? guardChain(subject, chain, verdict) : chain;
    const guarded = this.#guards.size > 0 ? this.#guards.judge(this.#guardFacts(state, judged), now) : {};
    seen.chain = judged;
    seen.verdict = guarded;
    if (guarded.deny !== undefined) return denial(trigger, guarded.deny, 'verification', started, leaf, guarded.error);
    const signals = guarded.signals;

    const policy = this.#policy;
    const context = state.context;
    const token = state.token;
    const question: Question = { trigger, started, source, chain, token, chainHorizon: verdict.notAfter ?? Infinity };
    // The input is built only for a policy to read: without one, a trust change re-deciding
    // thousands of connections would spend much of its time building inputs nobody reads.
    if (policy === undefined) {
      const verified = {
        allow: verdict.ok || !this.#requireCertificate,
        reason: verdict.ok ? 'verified' : 'no-certificate-required',
        expiresAt: Infinity,
        source: 'engine' as const,
      };
      return this.#decision(state, question, verified);
    }
    const input = policyInput(subject, {
      trigger,
      chain: policyChain(subject, chain, verdict),
      verdict,
      now,
      reauthCount: state.reauthCount,
      context,
      token,
      signals,
    });
    return evaluatePolicy(policy, input, {
      policyTimeout: this.#policyTimeout,
      now: () => this.scheduler.now(),
      tier: subject.kind,
    }).then((answer) => this.#decision(state, question, answer));
  }

  #decision(state: ConnectionState, question: Question, answer: PolicyAnswer): Decision {
    const { subject } = state;
    if (subject.destroyed)
      return denial(question.trigger, 'connection-closed', 'engine', question.started, question.chain[0]);
    return decisionFrom(question, answer, subject.trust, this.scheduler.now());
  }

  /**
   * Puts a decision in force around telling listeners. The gate, the deadline and the next check are
   * in place before any app code runs, and a denial's destroy does not depend on the listeners: one
   * that throws cannot leave a denied connection open or an allowed one unscheduled. A listener's
   * exception is re-thrown on the next tick, as an exception in any Node event listener surfaces,
   * and never unwinds through the engine. Listeners of a denial still see the socket before it is
   * destroyed ('deauthorized', then 'close').
   */
  #conclude(state: ConnectionState, decision: Decision, options: ReauthorizeOptions & { trigger: Trigger }): void {
    const { subject } = state;
    const previous = state.decision;
    state.decision = decision;
    // A decision that ends after its connection closed files or schedules nothing: the record is
    // gone from #states, and indexing or arming it again would keep it for good.
    const live = this.#isLive(state);
    if (live) {
      this.#indexState(state);
      if (state.watching !== subject.trust) {
        // Served with another context since it was tracked: its changes must reach this connection.
        this.#watch(subject.trust);
        this.#unwatch(state.watching);
        state.watching = subject.trust;
      }
    }
    if (!decision.allow) {
      state.denied = true;
      state.timers.cancel(this.scheduler);
      // A denied connection kept open (destroyOnDeny: false) passes nothing
      // either way until a later decision allows it again.
      subject.hold(HOLD_LAPSED);
      this.#announce(state, decision, previous !== null, options.reason);
      // Once the engine is closed (!live on an open socket) no later allow can open it: it closes.
      if ((options.destroyOnDeny !== false || !live) && !subject.destroyed)
        subject.destroy(deauthorizedError(decision));
      return;
    }
    state.denied = false;
    subject.setDeadline(decision.expiresAt, this.#now);
    if (live) this.#scheduleNext(state, decision, options.trigger);
    try {
      // Releasing the gate delivers held data to the app's listeners synchronously.
      subject.release(HOLD_LAPSED);
    } finally {
      this.#announce(state, decision, previous !== null, options.reason);
    }
  }

  #announce(state: ConnectionState, decision: Decision, again: boolean, note: string | undefined): void {
    const { subject } = state;
    const audit = this.listenerCount('decision') > 0 && (this.#auditWanted === null || this.#auditWanted());
    const observed = this.#observer.wantsDecision(decision.allow, decision.reason);
    if (audit || observed) {
      const event = connectionDecisionEvent(decision, subject.socket.remoteAddress, note);
      if (audit) notifySafely(() => this.emit('decision', event, subject.socket));
      if (observed) notifySafely(() => this.#observer.decision(subject.kind, event, { socket: subject.socket }));
    }
    if (!decision.allow) notifySafely(() => subject.socket.emit('deauthorized', decision));
    else if (again) notifySafely(() => subject.socket.emit('reauthorized', decision));
  }

  #scheduleNext(state: ConnectionState, decision: Decision, trigger: Trigger): void {
    const fresh = this.#schedule.fresh;
    const onInterval = (): void => void this.#decideShared(state, { trigger: 'interval', fresh });
    const onLapse = (): void => {
      // The decision has lapsed: nothing passes until a new one is made (by this re-check with
      // onExpiry, else by the next periodic or manual one).
      state.subject.hold(HOLD_LAPSED);
      if (this.#schedule.onExpiry) void this.#decideShared(state, { trigger: 'expiry', fresh });
    };
    state.timers.arm(this.scheduler, this.#schedule, decision, trigger, onInterval, onLapse);
  }

  #forget(socket: object): void {
    const state = this.#states.get(socket);
    if (state === undefined) return;
    state.timers.cancel(this.scheduler);
    this.#states.delete(socket);
    this.#index.delete(state);
    this.#unwatch(state.watching);
  }
}

/** A trust change flushes a cached() policy's DecisionCache (or any adapter with flush()). */
function flushPolicyCache(policy: Policy | undefined): void {
  const adapter = policy as { flush?: unknown; cache?: { flush?: unknown } } | undefined;
  if (typeof adapter?.flush === 'function') (adapter.flush as () => void).call(policy);
  const cache = adapter?.cache;
  if (cache !== undefined && typeof cache.flush === 'function') (cache.flush as () => void).call(cache);
}

/**
 * Runs an app-facing notification; an exception from a listener is re-thrown on the next tick
 * (where it surfaces as an uncaught exception, like one from any event listener) instead of
 * unwinding through the engine mid-decision.
 */
function notifySafely(notify: () => void): void {
  try {
    notify();
  } catch (error) {
    process.nextTick(() => {
      throw error;
    });
  }
}

/**
 * What a policy reads as `peer.chain`: the chain verification built (leaf first, trust anchor last)
 * when the presented one verified. The list as presented may carry certificates verification never
 * used (a public intermediate of another branch appended to satisfy a policy that pins it); it is
 * given only when there is no verified chain, and `peer.verified` then says so.
 */
function policyChain(
  subject: AuthorizationSubject,
  presented: X509Certificate[],
  verdict: ChainVerdict,
): X509Certificate[] {
  const leaf = presented[0];
  if (!verdict.ok || leaf === undefined) return presented;
  const built = verdict.chain ?? subject.verifiedChain?.();
  return built !== undefined && built.length > 0 && built[0]!.fingerprint256 === leaf.fingerprint256
    ? [...built]
    : presented;
}

/**
 * What guards judge, leaf first: the chain verification built (the library's own verification under
 * today's trust, else OpenSSL's for the exchange: leaf to anchor, in order of issuance), then every
 * other certificate the peer presented or verification stood on. A resumed session presents its
 * leaf alone, and a client may leave out intermediates the verifier's store holds; a fleet's
 * revocation of such an intermediate or of the anchor must still reach the connection (and index it
 * under that serial). The presented list comes after the built chain, so `chain[1]` is the leaf's
 * real issuer whatever a client puts second. Guards only narrow: judging more never admits more.
 */
function guardChain(
  subject: AuthorizationSubject,
  presented: readonly X509Certificate[],
  verdict: ChainVerdict | null,
): readonly X509Certificate[] {
  const leaf = presented[0];
  if (leaf === undefined) return presented;
  const sameLeaf = (chain: readonly X509Certificate[] | undefined): chain is readonly X509Certificate[] =>
    chain !== undefined && chain.length > 0 && chain[0]!.fingerprint256 === leaf.fingerprint256;
  const fromVerdict = verdict?.ok === true ? verdict.chain : undefined;
  const fromSubject = sameLeaf(fromVerdict) ? undefined : subject.verifiedChain?.();
  const built = sameLeaf(fromVerdict) ? fromVerdict : sameLeaf(fromSubject) ? fromSubject : undefined;
  if (built === undefined) return presented;
  const chain = [...built];
  // Certificates come parsed once per DER (parsedCertificate), and a fingerprint is memoized per
  // object: no DER is copied out to compare.
  const seen = new Set(chain.map((certificate) => certificate.fingerprint256));
  for (const certificate of [...(fromVerdict ?? []), ...(fromSubject ?? []), ...presented]) {
    if (seen.has(certificate.fingerprint256)) continue;
    seen.add(certificate.fingerprint256);
    chain.push(certificate);
  }
  return chain;
}

/** Something close() could not do, as a process warning: close() itself never throws for it. */
function closeWarning(what: string, error: unknown): void {
  warnOfFailure(what, error, 'ERR_CTLS_DETACHED');
}

/** Why close() cut a connection it was holding (see close()). */
function detachedError(state: ConnectionState): Error {
  const why = state.denied ? 'was denied and kept open' : 'had lapsed';
  return ctlsError(
    'ERR_CTLS_DETACHED',
    `the authorizer was closed (detach()) while this connection's decision ${why}: nothing could release it`,
  );
}
