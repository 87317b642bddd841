/**
 * The authorization engine shared by both tiers. Every connection carries a
 * Decision with an expiry; the engine re-decides on a schedule, at expiry, on
 * trust or policy changes and on demand, and holds the connection's data
 * while a decision is pending or lapsed. A denial cuts the connection.
 */
import { EventEmitter } from 'node:events';
import type { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ContinuousTlsError, ctlsError, invalidOption } from '../common/errors.js';
import { verifyWithHorizon, type SecureContext } from '../tls/context.js';
import { evaluatePolicy, isPolicy, type EvaluatedDecision } from '../policy/evaluate.js';
import { Scheduler } from './schedule.js';
import type { AuthorizationSubject } from './subject.js';
import type { AuthorizationInput, ConnectionInfo, Decision, DecisionSource, Policy, Trigger } from '../common/types.js';
import { connectionDecisionEvent, type DecisionEvent } from './audit-event.js';
export type { DecisionEvent } from './audit-event.js';

export interface ReauthorizeSchedule {
  /** ms between periodic re-checks of every live connection; 0 = off (default 30 s). */
  every?: number;
  /** Periodic and expiry re-checks ask the peer for a new certificate. */
  fresh?: boolean;
  /** Re-check exactly when the decision (certificate, token, policy TTL) lapses (default true). */
  onExpiry?: boolean;
  /** ms a fresh re-authentication may take (default 5 s). */
  timeout?: number;
  /** Up to this many ms are added at random to each periodic re-check, to spread load. */
  jitter?: number;
  /** What a fresh re-check does when the peer cannot do it: revalidate (default) or deny. */
  fallback?: 'revalidate' | 'deny';
}

export interface ReauthorizeOptions {
  fresh?: boolean;
  reason?: string;
  timeout?: number;
  destroyOnDeny?: boolean;
  context?: Record<string, unknown>;
  /** Verified claims of a bearer token bound to this connection; its `exp` bounds the decision. */
  token?: Record<string, unknown>;
  fallback?: 'revalidate' | 'deny';
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
}

type DecideOptions = ReauthorizeOptions & { trigger: Trigger; fresh: boolean };

/** What decides a connection once it is verified: the policy's answer, or the verdict alone. */
type PolicyAnswer = Pick<EvaluatedDecision, 'allow' | 'reason' | 'expiresAt' | 'source' | 'obligations' | 'error'>;

/**
 * The trust a decision is made under. A decision concludes only while all of it still holds:
 * a CA/CRL change of the connection's trust context, a policy change or a new certificate on the
 * connection while the decision was pending sends it back to be made again (docs/security.md,
 * "verdict reuse").
 */
interface Stamp {
  trust: SecureContext;
  trustGeneration: number;
  policyGeneration: number;
  certificateEpoch: number;
}

/** A decision in flight on one connection; later requests with the same inputs share it. */
interface PendingDecision {
  seq: number;
  promise: Promise<Decision>;
  fresh: boolean;
  destroyOnDeny: boolean;
  /** For a fresh decision: what it does when the peer cannot do a fresh exchange. */
  fallback: 'revalidate' | 'deny';
  context: Record<string, unknown>;
  token: Record<string, unknown> | undefined;
  /** Whether this decision holds the connection's data (its own hold key) until it concludes. */
  held: boolean;
}

interface ConnectionState {
  subject: AuthorizationSubject;
  decision: Decision | null;
  reauthCount: number;
  pending: PendingDecision[];
  intervalTask: ReturnType<Scheduler['schedule']> | null;
  expiryTask: ReturnType<Scheduler['schedule']> | null;
  context: Record<string, unknown>;
  token: Record<string, unknown> | undefined;
  denied: boolean;
  /** Decisions started on this connection, in order; `concluded` is the newest that concluded. */
  started: number;
  concluded: number;
}

/** A chain's verdict; when ok, `notAfter` is when the chain OpenSSL built (CAs included) expires. */
interface ChainVerdict {
  ok: boolean;
  code?: string;
  notAfter?: number;
}

interface VerifyCacheEntry extends ChainVerdict {
  at: number;
  trust: SecureContext;
  generation: number;
}


const HOLD_LAPSED = 'lapsed';
const HOLD_SWEEP = 'trust-change';
const VERIFY_CACHE_MS = 1000;
const VERIFY_CACHE_ENTRIES = 10_000;

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
  #verifyCache = new Map<string, VerifyCacheEntry>();
  #staleWarned = new Set<string>();
  #loneLeafWarned = false;
  #unsubscribePolicy: (() => void) | null = null;
  /** Trust contexts whose changes this engine follows, with their unsubscribe functions. */
  #watched = new Map<SecureContext, () => void>();
  /** The sweep started for each context's latest trust generation. */
  #sweeps = new Map<SecureContext, { generation: number; promise: Promise<Decision[]> }>();
  readonly #now = (): number => this.scheduler.now();

  constructor(options: AuthorizerOptions) {
    super();
    this.trust = options.trust;
    this.scheduler = options.scheduler ?? new Scheduler();
    this.#schedule = parseSchedule(options.reauthorize);
    this.#policyTimeout = positive('policyTimeout', options.policyTimeout, 200);
    this.#requireVerified = options.requireVerified ?? true;
    this.#requireCertificate = options.requireCertificate ?? false;
    this.#auditWanted = options.auditWanted ?? null;
    this.#watch(this.trust);
    this.setPolicy(options.policy, false);
  }

  get policy(): Policy | undefined {
    return this.#policy;
  }

  /** Swap the policy; with `recheck` every live connection is re-decided at once. */
  setPolicy(policy: Policy | undefined, recheck = true): Promise<Decision[]> {
    if (policy !== undefined && !isPolicy(policy)) throw invalidOption('policy', 'a function or an adapter with evaluate()', policy);
    this.#unsubscribePolicy?.();
    this.#unsubscribePolicy = null;
    this.#policy = policy;
    this.#policyGeneration++;
    if (policy !== undefined && typeof policy === 'object' && typeof policy.onChange === 'function') {
      // A policy that reloads itself (Cedar file watch) re-decides live connections too.
      this.#unsubscribePolicy = policy.onChange(() => {
        this.#policyGeneration++;
        void this.recheckAll('policy-change');
      });
    }
    return recheck ? this.recheckAll('policy-change') : Promise.resolve([]);
  }

  /**
   * Trust (CA/CRL) of `trust` changed (default: the engine's own context): forget verdicts made
   * under it and re-decide every connection served with it now. Calls for the same change share
   * one sweep: the context itself reports its changes, and so may its owner.
   */
  trustChanged(trust: SecureContext = this.trust): Promise<Decision[]> {
    const sweep = this.#sweeps.get(trust);
    if (sweep !== undefined && sweep.generation === trust.trustGeneration) return sweep.promise;
    this.#staleWarned.clear();
    flushPolicyCache(this.#policy);
    const promise = this.#sweep('revocation', (state) => state.subject.trust === trust);
    this.#sweeps.set(trust, { generation: trust.trustGeneration, promise });
    return promise;
  }

  /** Re-decide every live connection (revalidation, not fresh). */
  recheckAll(trigger: Trigger): Promise<Decision[]> {
    return this.#sweep(trigger, () => true);
  }

  /**
   * Holds the data of every affected connection at once, before the caller's setCrl()/setPolicy()
   * returns, then re-decides them one hop later, so that no connection is concluded (and maybe
   * destroyed) inside that call. Connections whose first decision is still pending are included:
   * that decision is made again under the new trust (see Stamp).
   */
  async #sweep(trigger: Trigger, affected: (state: ConnectionState) => boolean): Promise<Decision[]> {
    const states: ConnectionState[] = [];
    for (const state of this.#states.values()) {
      if (state.denied || !affected(state)) continue;
      state.subject.hold(HOLD_SWEEP);
      states.push(state);
    }
    await undefined;
    // After the hop, connections that need no policy are decided synchronously: a CRL swap over
    // 10,000 connections then costs no promise per connection.
    const checks: Array<Decision | Promise<Decision>> = [];
    for (const state of states) {
      if (this.#states.get(state.subject.socket) !== state) continue;
      checks.push(this.#decideShared(state, { trigger, fresh: false }, true));
      state.subject.release(HOLD_SWEEP);
    }
    return Promise.all(checks);
  }

  /** Start tracking a connection whose handshake just completed; resolves with its first decision. */
  admit(subject: AuthorizationSubject): Promise<Decision> {
    const state: ConnectionState = {
      subject,
      decision: null,
      reauthCount: 0,
      pending: [],
      intervalTask: null,
      expiryTask: null,
      context: {},
      token: undefined,
      denied: false,
      started: 0,
      concluded: 0,
    };
    this.#states.set(subject.socket, state);
    this.#watch(subject.trust);
    subject.socket.once('close', () => this.#forget(subject.socket));
    return Promise.resolve(this.#decideShared(state, { trigger: 'handshake', fresh: false }));
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

  /** reauthorize(socket, options) for a tracked socket. */
  reauthorize(socket: object, options: ReauthorizeOptions = {}): Promise<Decision> {
    const state = this.#states.get(socket);
    if (state === undefined) {
      return Promise.reject(ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket is not live (closed, or its handshake has not completed)'));
    }
    // New signals make new inputs: a call that brings them never shares a decision made without them.
    if (options.context !== undefined) state.context = { ...state.context, ...options.context };
    if (options.token !== undefined) state.token = options.token;
    return Promise.resolve(this.#decideShared(state, { trigger: 'manual', ...options, fresh: options.fresh ?? false }));
  }

  close(): void {
    this.#unsubscribePolicy?.();
    this.#unsubscribePolicy = null;
    for (const unsubscribe of this.#watched.values()) unsubscribe();
    this.#watched.clear();
    for (const state of this.#states.values()) this.#cancelTasks(state);
    this.#states.clear();
  }

  #watch(trust: SecureContext): void {
    if (this.#watched.has(trust)) return;
    this.#watched.set(
      trust,
      trust.onTrustChange(() => void this.trustChanged(trust)),
    );
  }

  // ---- deciding ----------------------------------------------------------

  /**
   * A request joins a decision in flight only when that decision answers exactly the same
   * question: same context and token, same destroyOnDeny, and fresh when a fresh one is asked for
   * (a revalidation is satisfied by a fresh exchange in flight, not the other way round). Joining
   * makes the pending decision hold data if it did not already. With `sync`, a decision that needs
   * neither a fresh exchange nor a policy is made and concluded before returning.
   */
  #decideShared(state: ConnectionState, options: DecideOptions, sync = false): Decision | Promise<Decision> {
    const destroyOnDeny = options.destroyOnDeny !== false;
    const fallback = options.fallback ?? this.#schedule.fallback;
    for (const pending of state.pending) {
      if (pending.context !== state.context || pending.token !== state.token) continue;
      if (pending.destroyOnDeny !== destroyOnDeny || (options.fresh && !pending.fresh)) continue;
      // A fresh request that must deny when the peer cannot answer does not take the answer of
      // one that falls back to revalidation.
      if (options.fresh && pending.fallback !== fallback) continue;
      if (!pending.held && this.#mustHold(state, options)) {
        pending.held = true;
        state.subject.hold(holdKey(pending.seq));
      }
      return pending.promise;
    }
    const seq = ++state.started;
    const hold = this.#mustHold(state, options);
    if (hold) state.subject.hold(holdKey(seq));
    const result = this.#decide(state, options, seq, sync);
    if (!(result instanceof Promise)) return result;
    const entry: PendingDecision = { seq, promise: result, fresh: options.fresh, destroyOnDeny, fallback, context: state.context, token: state.token, held: hold };
    state.pending.push(entry);
    entry.promise = result.finally(() => {
      const index = state.pending.indexOf(entry);
      if (index >= 0) state.pending.splice(index, 1);
    });
    return entry.promise;
  }

  /**
   * Routine re-checks of a still-valid decision let data flow meanwhile; everything else (a new
   * certificate, a lapsed decision, a trust or policy change) holds it until the answer.
   */
  #mustHold(state: ConnectionState, options: DecideOptions): boolean {
    if (options.fresh) return true;
    if (options.trigger !== 'interval' && options.trigger !== 'manual') return true;
    return state.decision === null || state.decision.expiresAt <= this.scheduler.now();
  }

  #decide(state: ConnectionState, options: DecideOptions, seq: number, sync: boolean): Decision | Promise<Decision> {
    const started = performance.now();
    if (sync && !options.fresh && this.#policy === undefined) {
      // Made and concluded in this turn: nothing can change under it.
      let decision: Decision;
      try {
        decision = this.#settle(state, options, started, 'engine') as Decision;
      } catch (error) {
        decision = this.#denial(options.trigger, 'policy-error', 'engine', started, undefined, error as Error);
      }
      return this.#finish(state, decision, options, seq);
    }
    return this.#decideLater(state, options, started, seq);
  }

  async #decideLater(state: ConnectionState, options: DecideOptions, started: number, seq: number): Promise<Decision> {
    let source: DecisionSource = 'engine';
    if (options.fresh) {
      try {
        await state.subject.requestFresh(options.timeout ?? this.#schedule.timeout);
        state.reauthCount++;
      } catch (error) {
        const code = (error as { code?: string }).code;
        const fallback = options.fallback ?? this.#schedule.fallback;
        if (code !== 'ERR_CTLS_FRESH_UNSUPPORTED' || fallback === 'deny') {
          const reason = freshFailureReason(error as Error & { code?: string; verifyError?: string });
          return this.#finish(state, this.#denial(options.trigger, reason, 'engine', started, undefined, error as Error), options, seq);
        }
        source = 'fallback';
      }
    }
    let decision: Decision;
    for (;;) {
      const stamp = this.#stamp(state);
      try {
        decision = await this.#settle(state, options, started, source);
      } catch (error) {
        decision = this.#denial(options.trigger, 'policy-error', 'engine', started, undefined, error as Error);
      }
      if (state.subject.destroyed || this.#stillHolds(state, stamp)) break;
      // The trust, the policy or the certificate changed while the policy was deciding: its
      // answer is about inputs that are gone. Decide again, holding data meanwhile.
      const pending = state.pending.find((entry) => entry.seq === seq);
      if (pending !== undefined && !pending.held) {
        pending.held = true;
        state.subject.hold(holdKey(seq));
      }
    }
    return this.#finish(state, decision, options, seq);
  }

  #stamp(state: ConnectionState): Stamp {
    const trust = state.subject.trust;
    return { trust, trustGeneration: trust.trustGeneration, policyGeneration: this.#policyGeneration, certificateEpoch: state.subject.certificateEpoch };
  }

  #stillHolds(state: ConnectionState, stamp: Stamp): boolean {
    const trust = state.subject.trust;
    return (
      stamp.trust === trust &&
      stamp.trustGeneration === trust.trustGeneration &&
      stamp.policyGeneration === this.#policyGeneration &&
      stamp.certificateEpoch === state.subject.certificateEpoch
    );
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
    if (decision.allow || state.subject.destroyed) state.subject.release(holdKey(seq));
    return decision;
  }

  /** Verification, then the policy if there is one: a Decision, or a promise of one for a policy. */
  #settle(state: ConnectionState, options: DecideOptions, started: number, source: DecisionSource): Decision | Promise<Decision> {
    const { subject } = state;
    const { trigger } = options;
    if (subject.destroyed) return this.#denial(trigger, 'connection-closed', 'engine', started);

    const trust = subject.trust;
    const chain = subject.peerChain();
    const leaf = chain[0];
    const now = this.scheduler.now();
    if (leaf === undefined && this.#requireCertificate) {
      return this.#denial(trigger, 'no-certificate', 'verification', started);
    }
    const verdict: ChainVerdict = leaf === undefined ? { ok: false, code: 'NO_PEER_CERTIFICATE' } : this.#verify(subject, chain, now);
    if (!verdict.ok && verdict.code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' && chain.length === 1 && subject.kind === 'attached') {
      this.#warnLoneLeaf();
    }
    const stale = trust.staleCrls(now);
    if (stale.length > 0) {
      if (trust.revocation === 'strict') return this.#denial(trigger, 'crl-stale', 'verification', started, leaf);
      this.#warnStale(stale.map((crl) => `${crl.issuer}@${crl.nextUpdate}`));
    }
    if (leaf !== undefined && !verdict.ok && this.#requireVerified) {
      return this.#denial(trigger, verdict.code ?? 'UNSPECIFIED', 'verification', started, leaf);
    }

    const policy = this.#policy;
    const context = state.context;
    const token = state.token;
    // The input is built only for a policy to read: without one, a trust change re-deciding
    // thousands of connections would spend much of its time building inputs nobody reads.
    if (policy === undefined) {
      const verified = { allow: verdict.ok || !this.#requireCertificate, reason: verdict.ok ? 'verified' : 'no-certificate-required', expiresAt: Infinity, source: 'engine' as const };
      return this.#decision(state, trigger, started, source, chain, token, verified, verdict.notAfter ?? Infinity);
    }
    return evaluatePolicy(policy, this.#input(state, trigger, chain, verdict, now, context, token), {
      timeoutMs: this.#policyTimeout,
      now: () => this.scheduler.now(),
    }).then((answer) => this.#decision(state, trigger, started, source, chain, token, answer, verdict.notAfter ?? Infinity));
  }

  #decision(
    state: ConnectionState,
    trigger: Trigger,
    started: number,
    source: DecisionSource,
    chain: X509Certificate[],
    token: Record<string, unknown> | undefined,
    answer: PolicyAnswer,
    /** When the chain OpenSSL built expires (store CAs included). */
    chainHorizon: number,
  ): Decision {
    const { subject } = state;
    const leaf = chain[0];
    if (subject.destroyed) return this.#denial(trigger, 'connection-closed', 'engine', started, leaf);

    const tokenExpiresAt = tokenExpiry(token);
    const expiresAt = Math.min(answer.expiresAt, chainNotAfter(chain), chainHorizon, tokenExpiresAt, strictCrlHorizon(subject.trust));
    let allow = answer.allow;
    let reason = answer.reason;
    if (allow && expiresAt <= this.scheduler.now()) {
      // An allow that has lapsed on arrival (ttlMs: 0, an expiresAt in the past, an expired token)
      // admits nothing: re-deciding it at once would only ask the policy again, forever.
      allow = false;
      reason = tokenExpiresAt <= expiresAt ? 'token-expired' : 'decision-expired';
    }
    const decision: Decision = {
      allow,
      reason,
      trigger,
      expiresAt: allow ? expiresAt : -Infinity,
      source: source === 'fallback' ? 'fallback' : answer.source,
      durationMs: performance.now() - started,
    };
    if (leaf !== undefined) decision.certificate = leaf;
    if ('obligations' in answer && answer.obligations !== undefined) decision.obligations = answer.obligations;
    if ('error' in answer && answer.error !== undefined) {
      Object.defineProperty(decision, 'error', { value: answer.error, enumerable: false });
    }
    return decision;
  }

  /**
   * The chain's verdict against the connection's trust context as it is now. Reused verdicts (the
   * exchange's own, or a cached one) count only while the context's trust generation is the one
   * they were made under; the clock check runs every time.
   */
  #verify(subject: AuthorizationSubject, chain: X509Certificate[], now: number): ChainVerdict {
    const verdict = this.#verifyChain(subject, chain, now);
    // A CA or intermediate from the store that has expired since is no anchor any more.
    if (verdict.ok && verdict.notAfter !== undefined && now >= verdict.notAfter) return { ok: false, code: 'CERT_HAS_EXPIRED' };
    return verdict;
  }

  #verifyChain(subject: AuthorizationSubject, chain: X509Certificate[], now: number): ChainVerdict {
    const trust = subject.trust;
    const validity = validityVerdict(chain, now);
    // OpenSSL's own verdict from the handshake or the last fresh exchange, while nothing it
    // depended on has changed: the same context at the same generation, the same certificate.
    const exchange = subject.exchangeVerdict();
    if (exchange !== null && exchange.trust === trust && exchange.generation === trust.trustGeneration && exchange.epoch === subject.certificateEpoch) {
      if (!exchange.ok || !validity.ok) return exchange.ok ? validity : exchange;
      return exchange.notAfter === undefined ? validity : { ok: true, notAfter: exchange.notAfter };
    }
    if (!validity.ok) return validity;
    // Every certificate of the presented chain is in the key: the same leaf under another
    // intermediate (cross-signed, or revoked) is another question.
    let key = '';
    for (const certificate of chain) key += certificate.fingerprint256;
    const cached = this.#verifyCache.get(key);
    if (cached !== undefined && cached.trust === trust && cached.generation === trust.trustGeneration && now - cached.at < VERIFY_CACHE_MS) {
      return cached;
    }
    const outcome = verifyWithHorizon(trust, chain, subject.isServer ? 'sslclient' : 'sslserver');
    const entry: VerifyCacheEntry = { ok: outcome.ok, at: now, trust, generation: trust.trustGeneration };
    if (outcome.code !== undefined) entry.code = outcome.code;
    if (outcome.notAfter !== undefined) entry.notAfter = outcome.notAfter;
    if (this.#verifyCache.size >= VERIFY_CACHE_ENTRIES) this.#verifyCache.clear();
    this.#verifyCache.set(key, entry);
    return entry;
  }

  #input(
    state: ConnectionState,
    trigger: Trigger,
    chain: X509Certificate[],
    verdict: { ok: boolean; code?: string },
    now: number,
    context: Record<string, unknown>,
    token: Record<string, unknown> | undefined,
  ): AuthorizationInput {
    // subject.info() builds a fresh object each call, so it is extended in place rather than
    // spread (see the note on object spread in http.ts).
    const connection = state.subject.info() as ConnectionInfo;
    connection.ageMs = now - state.subject.createdAt;
    connection.reauthCount = state.reauthCount;
    const input: AuthorizationInput = {
      trigger,
      peer: { chain, verified: verdict.ok },
      connection,
      context,
    };
    if (chain[0] !== undefined) input.peer.certificate = chain[0];
    if (!verdict.ok && verdict.code !== undefined) input.peer.verifyError = verdict.code;
    if (token !== undefined) input.token = token;
    return input;
  }

  #denial(trigger: Trigger, reason: string, source: DecisionSource, started: number, certificate?: X509Certificate, error?: Error): Decision {
    const decision: Decision = { allow: false, reason, trigger, expiresAt: -Infinity, source, durationMs: performance.now() - started };
    if (certificate !== undefined) decision.certificate = certificate;
    if (error !== undefined) Object.defineProperty(decision, 'error', { value: error, enumerable: false });
    return decision;
  }

  #conclude(state: ConnectionState, decision: Decision, options: ReauthorizeOptions & { trigger: Trigger }): void {
    const { subject } = state;
    const previous = state.decision;
    state.decision = decision;
    if (this.listenerCount('decision') > 0 && (this.#auditWanted === null || this.#auditWanted())) {
      this.emit('decision', connectionDecisionEvent(decision, subject.socket.remoteAddress, options.reason), subject.socket);
    }
    if (!decision.allow) {
      state.denied = true;
      this.#cancelTasks(state);
      // A denied connection kept open (destroyOnDeny: false) passes nothing
      // either way until a later decision allows it again.
      subject.hold(HOLD_LAPSED);
      subject.socket.emit('deauthorized', decision);
      if (options.destroyOnDeny !== false && !subject.destroyed) subject.destroy(deauthorizedError(decision));
      return;
    }
    state.denied = false;
    subject.setDeadline(decision.expiresAt, this.#now);
    subject.release(HOLD_LAPSED);
    if (previous !== null) subject.socket.emit('reauthorized', decision);
    this.#scheduleNext(state, decision, options.trigger);
  }

  // ---- scheduling -----------------------------------------------------------

  #scheduleNext(state: ConnectionState, decision: Decision, trigger: Trigger): void {
    const { every, jitter, onExpiry, fresh } = this.#schedule;
    const scheduler = this.scheduler;
    // A trust or policy change re-decides every connection at once: moving each one's timers would
    // be two heap removals and two insertions per connection for nothing. The periodic re-check
    // keeps its slot (it comes no later than it would have), and an unchanged expiry its task.
    const sweeping = trigger === 'revocation' || trigger === 'policy-change';
    const keepInterval = sweeping && state.intervalTask !== null && every > 0;
    const keepExpiry = onExpiry && state.expiryTask !== null && state.expiryTask.dueAt === decision.expiresAt;
    if (!keepInterval) {
      scheduler.cancel(state.intervalTask);
      state.intervalTask = null;
    }
    if (!keepExpiry) {
      scheduler.cancel(state.expiryTask);
      state.expiryTask = null;
    }
    if (every > 0 && !keepInterval) {
      const due = scheduler.now() + every + (jitter > 0 ? Math.random() * jitter : 0);
      state.intervalTask = scheduler.schedule(due, () => {
        state.intervalTask = null;
        void this.#decideShared(state, { trigger: 'interval', fresh });
      });
    }
    if (onExpiry && !keepExpiry && Number.isFinite(decision.expiresAt)) {
      state.expiryTask = scheduler.schedule(decision.expiresAt, () => {
        state.expiryTask = null;
        // The decision has lapsed: nothing passes until a new one is made.
        state.subject.hold(HOLD_LAPSED);
        void this.#decideShared(state, { trigger: 'expiry', fresh });
      });
    }
  }

  #cancelTasks(state: ConnectionState): void {
    this.scheduler.cancel(state.intervalTask);
    this.scheduler.cancel(state.expiryTask);
    state.intervalTask = null;
    state.expiryTask = null;
  }

  #forget(socket: object): void {
    const state = this.#states.get(socket);
    if (state === undefined) return;
    this.#cancelTasks(state);
    this.#states.delete(socket);
  }

  /** Once per authorizer: the likely cause is node hiding the presented intermediates, and the fix is an option. */
  #warnLoneLeaf(): void {
    if (this.#loneLeafWarned) return;
    this.#loneLeafWarned = true;
    const warning = ctlsError(
      'ERR_CTLS_CHAIN_INCOMPLETE',
      "an attached connection's peer chain arrived as its leaf alone, and neither a CA nor a configured intermediate issued it. " +
        'Node 24.x and 26.8+ hide the intermediates a client presents from server sockets (nodejs/node#65579): ' +
        'pass them to attach() as `intermediates`.',
    );
    this.emit('warning', warning);
  }

  #warnStale(keys: string[]): void {
    const fresh = keys.filter((key) => !this.#staleWarned.has(key));
    if (fresh.length === 0) return;
    for (const key of fresh) this.#staleWarned.add(key);
    const warning = ctlsError('ERR_CTLS_CRL_STALE', `CRL past its nextUpdate still in use (revocation: 'best-effort'): ${fresh.join(', ')}`);
    this.emit('warning', warning);
  }
}

function parseSchedule(schedule: ReauthorizeSchedule | undefined): Required<ReauthorizeSchedule> {
  if (schedule !== undefined && (schedule === null || typeof schedule !== 'object')) {
    throw invalidOption('reauthorize', 'an object', schedule);
  }
  const s = schedule ?? {};
  const fallback = s.fallback ?? 'revalidate';
  if (fallback !== 'revalidate' && fallback !== 'deny') throw invalidOption('reauthorize.fallback', "'revalidate' or 'deny'", fallback);
  for (const name of ['fresh', 'onExpiry'] as const) {
    if (s[name] !== undefined && typeof s[name] !== 'boolean') throw invalidOption(`reauthorize.${name}`, 'a boolean', s[name]);
  }
  return {
    every: nonNegative('reauthorize.every', s.every, 30_000),
    fresh: s.fresh ?? false,
    onExpiry: s.onExpiry ?? true,
    timeout: positive('reauthorize.timeout', s.timeout, 5_000),
    jitter: nonNegative('reauthorize.jitter', s.jitter, 0),
    fallback,
  };
}

function nonNegative(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw invalidOption(name, 'a non-negative number of ms', value);
  return value;
}

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalidOption(name, 'a positive number of ms', value);
  return value;
}

const validityCache = new WeakMap<X509Certificate, { notBefore: number; notAfter: number }>();

function validityOf(certificate: X509Certificate): { notBefore: number; notAfter: number } {
  let validity = validityCache.get(certificate);
  if (validity === undefined) {
    validity = { notBefore: Date.parse(certificate.validFrom), notAfter: Date.parse(certificate.validTo) };
    validityCache.set(certificate, validity);
  }
  return validity;
}

/** The clock check at millisecond precision (OpenSSL's is per second). */
function validityVerdict(chain: X509Certificate[], now: number): { ok: boolean; code?: string } {
  for (const certificate of chain) {
    const { notBefore, notAfter } = validityOf(certificate);
    if (now >= notAfter) return { ok: false, code: 'CERT_HAS_EXPIRED' };
    if (now < notBefore) return { ok: false, code: 'CERT_NOT_YET_VALID' };
  }
  return { ok: true };
}

/** In strict revocation mode a decision lapses when the first CRL it relied on goes stale. */
function strictCrlHorizon(trust: SecureContext): number {
  if (trust.revocation !== 'strict') return Infinity;
  let horizon = Infinity;
  for (const crl of trust.crls) if (crl.nextUpdate !== null) horizon = Math.min(horizon, crl.nextUpdate);
  return horizon;
}

function holdKey(seq: number): string {
  return `decision:${seq}`;
}

function chainNotAfter(chain: X509Certificate[]): number {
  let earliest = Infinity;
  for (const certificate of chain) earliest = Math.min(earliest, validityOf(certificate).notAfter);
  return earliest;
}

function tokenExpiry(token: Record<string, unknown> | undefined): number {
  const exp = token?.exp;
  return typeof exp === 'number' ? exp * 1000 : Infinity;
}

/** A fresh exchange that failed verification is denied for the verification error itself (CERT_REVOKED …). */
function freshFailureReason(error: Error & { code?: string; verifyError?: string }): string {
  if (typeof error.verifyError === 'string') return error.verifyError;
  switch (error.code) {
    case 'ERR_CTLS_FRESH_UNSUPPORTED': return 'fresh-unsupported';
    case 'ERR_CTLS_REAUTH_TIMEOUT': return 'reauth-timeout';
    case 'ERR_CTLS_NO_PEER_CERTIFICATE': return 'no-certificate';
    case 'ERR_CTLS_CERT_VERIFY': return 'certificate-rejected';
    case 'ERR_CTLS_SOCKET_CLOSED': return 'connection-closed';
    default: return 'reauth-failed';
  }
}

/** A trust change flushes a cached() policy's DecisionCache (or any adapter with flush()). */
function flushPolicyCache(policy: Policy | undefined): void {
  const adapter = policy as { flush?: unknown; cache?: { flush?: unknown } } | undefined;
  if (typeof adapter?.flush === 'function') (adapter.flush as () => void).call(policy);
  const cache = adapter?.cache;
  if (cache !== undefined && typeof cache.flush === 'function') (cache.flush as () => void).call(cache);
}

export function deauthorizedError(decision: Decision): ContinuousTlsError {
  const error = ctlsError('ERR_CTLS_DEAUTHORIZED', `connection deauthorized (${decision.trigger}): ${decision.reason}`, {
    cause: (decision as Decision & { error?: Error }).error,
  });
  (error as ContinuousTlsError & { decision?: Decision }).decision = decision;
  return error;
}
