/**
 * The authorization engine shared by both tiers. Every connection carries a
 * Decision with an expiry; the engine re-decides on a schedule, at expiry, on
 * trust or policy changes and on demand, and holds the connection's data
 * while a decision is pending or lapsed. A denial cuts the connection.
 */
import { EventEmitter } from 'node:events';
import type { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ContinuousTlsError, ctlsError, invalidOption } from './errors.js';
import type { SecureContext } from './context.js';
import { evaluatePolicy, isPolicy, type EvaluatedDecision } from './policy/evaluate.js';
import { Scheduler } from './schedule.js';
import type { AuthorizationSubject } from './subject.js';
import type { AuthorizationInput, ConnectionInfo, Decision, DecisionSource, Policy, Trigger } from './types.js';
import type { DecisionEvent as MetricsDecisionEvent } from './metrics.js';
import { commonName } from './policy/facts.js';

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

/**
 * The audit event emitted for every decision: the REST middleware's and the
 * metrics' DecisionEvent (subject = CN, serial, fingerprint) plus what only a
 * connection has.
 */
export interface DecisionEvent extends MetricsDecisionEvent {
  expiresAt: number;
  /** The full subject DN of the peer certificate. */
  subjectDN?: string;
  remoteAddress?: string;
  /** Free text from the caller of reauthorize() ('wire-transfer'). */
  note?: string;
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

interface ConnectionState {
  subject: AuthorizationSubject;
  decision: Decision | null;
  reauthCount: number;
  pending: Map<boolean, Promise<Decision>>;
  intervalTask: ReturnType<Scheduler['schedule']> | null;
  expiryTask: ReturnType<Scheduler['schedule']> | null;
  context: Record<string, unknown>;
  token: Record<string, unknown> | undefined;
  denied: boolean;
}

interface VerifyCacheEntry {
  ok: boolean;
  code?: string;
  at: number;
  generation: number;
  /** The context's CRL list when the verdict was made: replaced on every setCa/setCrl/setRevocation. */
  store: readonly unknown[];
}

const HOLD_DECISION = 'decision';
const HOLD_LAPSED = 'lapsed';
const VERIFY_CACHE_MS = 1000;

export class Authorizer extends EventEmitter {
  readonly trust: SecureContext;
  readonly scheduler: Scheduler;
  #policy: Policy | undefined;
  #schedule: Required<ReauthorizeSchedule>;
  #policyTimeout: number;
  #requireVerified: boolean;
  #requireCertificate: boolean;
  readonly #auditWanted: (() => boolean) | null;
  #states = new Map<object, ConnectionState>();
  #trustGeneration = 0;
  #verifyCache = new Map<string, VerifyCacheEntry>();
  #staleWarned = new Set<string>();
  #loneLeafWarned = false;
  #unsubscribePolicy: (() => void) | null = null;
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
    if (policy !== undefined && typeof policy === 'object' && typeof policy.onChange === 'function') {
      // A policy that reloads itself (Cedar file watch) re-decides live connections too.
      this.#unsubscribePolicy = policy.onChange(() => void this.recheckAll('policy-change'));
    }
    return recheck ? this.recheckAll('policy-change') : Promise.resolve([]);
  }

  /** Trust (CA/CRL) changed: forget cached verdicts and re-decide everyone now. */
  trustChanged(): Promise<Decision[]> {
    this.#trustGeneration++;
    this.#verifyCache.clear();
    this.#staleWarned.clear();
    flushPolicyCache(this.#policy);
    return this.recheckAll('revocation');
  }

  /** Re-decide every live connection (revalidation, not fresh). */
  async recheckAll(trigger: Trigger): Promise<Decision[]> {
    // One hop for the whole sweep, so that no connection is concluded (and maybe destroyed) inside
    // the caller's setCrl()/setPolicy() call. After it, connections that need no policy are decided
    // synchronously: a CRL swap over 10,000 connections then costs no promise per connection.
    await undefined;
    const checks: Array<Decision | Promise<Decision>> = [];
    for (const state of this.#states.values()) {
      if (state.denied || state.decision === null) continue;
      checks.push(this.#decideShared(state, { trigger, fresh: false }, true));
    }
    return Promise.all(checks);
  }

  /** Start tracking a connection whose handshake just completed; resolves with its first decision. */
  admit(subject: AuthorizationSubject): Promise<Decision> {
    const state: ConnectionState = {
      subject,
      decision: null,
      reauthCount: 0,
      pending: new Map(),
      intervalTask: null,
      expiryTask: null,
      context: {},
      token: undefined,
      denied: false,
    };
    this.#states.set(subject.socket, state);
    subject.socket.once('close', () => this.#forget(subject.socket));
    return Promise.resolve(this.#decideShared(state, { trigger: 'handshake', fresh: false }));
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
    if (options.context !== undefined) state.context = { ...state.context, ...options.context };
    if (options.token !== undefined) state.token = options.token;
    return Promise.resolve(this.#decideShared(state, { trigger: 'manual', ...options, fresh: options.fresh ?? false }));
  }

  close(): void {
    this.#unsubscribePolicy?.();
    this.#unsubscribePolicy = null;
    for (const state of this.#states.values()) this.#cancelTasks(state);
    this.#states.clear();
  }

  // ---- deciding ----------------------------------------------------------

  /**
   * Concurrent requests share one evaluation; a fresh one is not satisfied by a revalidation in
   * flight, but a revalidation is by a fresh one. With `sync`, a decision that needs neither a
   * fresh exchange nor a policy is made and concluded before returning (the Decision itself).
   */
  #decideShared(state: ConnectionState, options: DecideOptions, sync = false): Decision | Promise<Decision> {
    const existing = state.pending.get(options.fresh) ?? (options.fresh ? undefined : state.pending.get(true));
    if (existing !== undefined) return existing;
    const result = this.#decide(state, options, sync);
    if (!(result instanceof Promise)) return result;
    const promise = result.finally(() => {
      if (state.pending.get(options.fresh) === promise) state.pending.delete(options.fresh);
    });
    state.pending.set(options.fresh, promise);
    return promise;
  }

  #decide(state: ConnectionState, options: DecideOptions, sync: boolean): Decision | Promise<Decision> {
    const started = performance.now();
    const { subject } = state;
    const now = this.scheduler.now();
    const lapsed = state.decision === null || state.decision.expiresAt <= now;
    // Routine re-checks of a still-valid decision let data flow meanwhile;
    // everything else (new certificate, lapsed decision, trust or policy
    // change) holds it until the answer.
    const hold = options.fresh || lapsed || !(options.trigger === 'interval' || options.trigger === 'manual');
    if (hold) subject.hold(HOLD_DECISION);
    if (sync && !options.fresh && this.#policy === undefined) {
      let decision: Decision;
      try {
        decision = this.#settle(state, options, started, 'engine') as Decision;
      } catch (error) {
        decision = this.#denial(options.trigger, 'policy-error', 'engine', started, undefined, error as Error);
      }
      return this.#finish(state, decision, options, hold);
    }
    return this.#decideLater(state, options, started, hold);
  }

  async #decideLater(state: ConnectionState, options: DecideOptions, started: number, hold: boolean): Promise<Decision> {
    let decision: Decision;
    try {
      decision = await this.#evaluate(state, options, started);
    } catch (error) {
      decision = this.#denial(options.trigger, 'policy-error', 'engine', started, undefined, error as Error);
    }
    return this.#finish(state, decision, options, hold);
  }

  #finish(state: ConnectionState, decision: Decision, options: DecideOptions, hold: boolean): Decision {
    this.#conclude(state, decision, options);
    if (hold && decision.allow) state.subject.release(HOLD_DECISION);
    return decision;
  }

  async #evaluate(state: ConnectionState, options: DecideOptions, started: number): Promise<Decision> {
    const { subject } = state;
    const { trigger } = options;
    let source: DecisionSource = 'engine';
    if (options.fresh) {
      try {
        await subject.requestFresh(options.timeout ?? this.#schedule.timeout);
        state.reauthCount++;
      } catch (error) {
        const code = (error as { code?: string }).code;
        const fallback = options.fallback ?? this.#schedule.fallback;
        if (code !== 'ERR_CTLS_FRESH_UNSUPPORTED' || fallback === 'deny') {
          return this.#denial(trigger, freshFailureReason(error as Error & { code?: string; verifyError?: string }), 'engine', started, undefined, error as Error);
        }
        source = 'fallback';
      }
    }
    return this.#settle(state, options, started, source);
  }

  /** Verification, then the policy if there is one: a Decision, or a promise of one for a policy. */
  #settle(state: ConnectionState, options: DecideOptions, started: number, source: DecisionSource): Decision | Promise<Decision> {
    const { subject } = state;
    const { trigger } = options;
    if (subject.destroyed) return this.#denial(trigger, 'connection-closed', 'engine', started);

    const chain = subject.peerChain();
    const leaf = chain[0];
    const now = this.scheduler.now();
    if (leaf === undefined && this.#requireCertificate) {
      return this.#denial(trigger, 'no-certificate', 'verification', started);
    }
    const verdict = leaf === undefined ? { ok: false, code: 'NO_PEER_CERTIFICATE' } : this.#verify(subject, chain, now);
    if (!verdict.ok && verdict.code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' && chain.length === 1 && subject.kind === 'attached') {
      this.#warnLoneLeaf();
    }
    const stale = this.trust.staleCrls(now);
    if (stale.length > 0) {
      if (this.trust.revocation === 'strict') return this.#denial(trigger, 'crl-stale', 'verification', started, leaf);
      this.#warnStale(stale.map((crl) => `${crl.issuer}@${crl.nextUpdate}`));
    }
    if (leaf !== undefined && !verdict.ok && this.#requireVerified) {
      return this.#denial(trigger, verdict.code ?? 'UNSPECIFIED', 'verification', started, leaf);
    }

    const policy = this.#policy;
    // The input is built only for a policy to read: without one, a trust
    // change re-deciding 10,000 connections spent a fifth of its time on it.
    if (policy === undefined) {
      const verified = { allow: verdict.ok || !this.#requireCertificate, reason: verdict.ok ? 'verified' : 'no-certificate-required', expiresAt: Infinity, source: 'engine' as const };
      return this.#decision(state, trigger, started, source, chain, verified);
    }
    return evaluatePolicy(policy, this.#input(state, trigger, chain, verdict, now), { timeoutMs: this.#policyTimeout, now: () => this.scheduler.now() })
      .then((answer) => this.#decision(state, trigger, started, source, chain, answer));
  }

  #decision(state: ConnectionState, trigger: Trigger, started: number, source: DecisionSource, chain: X509Certificate[], answer: PolicyAnswer): Decision {
    const { subject } = state;
    const leaf = chain[0];
    if (subject.destroyed) return this.#denial(trigger, 'connection-closed', 'engine', started, leaf);

    const expiresAt = Math.min(answer.expiresAt, chainNotAfter(chain), tokenExpiry(state.token), this.#strictCrlHorizon());
    const decision: Decision = {
      allow: answer.allow,
      reason: answer.reason,
      trigger,
      expiresAt,
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

  #verify(subject: AuthorizationSubject, chain: X509Certificate[], now: number): { ok: boolean; code?: string } {
    // The exchange's own verdict (handshake or fresh certificate) was made
    // against this very store moments ago; reuse it once.
    const exchange = subject.exchangeVerdict();
    const validity = validityVerdict(chain, now);
    if (exchange !== null) return exchange.ok ? validity : exchange;
    if (!validity.ok) return validity;
    const leaf = chain[0]!;
    const key = `${leaf.fingerprint256}/${chain.length}`;
    const cached = this.#verifyCache.get(key);
    // The store may also change behind our back (app code calling
    // server.secureContext.setCrl directly): a verdict about an older store is no verdict.
    const store = this.trust.crls;
    if (cached !== undefined && cached.generation === this.#trustGeneration && cached.store === store && now - cached.at < VERIFY_CACHE_MS) {
      return cached;
    }
    const outcome = this.trust.verifyChain(chain, subject.isServer ? 'sslclient' : 'sslserver');
    const entry: VerifyCacheEntry = { ok: outcome.ok, at: now, generation: this.#trustGeneration, store };
    if (outcome.code !== undefined) entry.code = outcome.code;
    this.#verifyCache.set(key, entry);
    if (this.#verifyCache.size > 10_000) this.#verifyCache.clear();
    return entry;
  }

  #input(state: ConnectionState, trigger: Trigger, chain: X509Certificate[], verdict: { ok: boolean; code?: string }, now: number): AuthorizationInput {
    // Not `{ ...info, ageMs, reauthCount }`: on Node 20 that costs over a microsecond and leaves a
    // dictionary-mode object (see connectionInfo in http.ts).
    // subject.info() builds a fresh object each call, so it is extended in place.
    const connection = state.subject.info() as ConnectionInfo;
    connection.ageMs = now - state.subject.createdAt;
    connection.reauthCount = state.reauthCount;
    const input: AuthorizationInput = {
      trigger,
      peer: { chain, verified: verdict.ok },
      connection,
      context: state.context,
    };
    if (chain[0] !== undefined) input.peer.certificate = chain[0];
    if (!verdict.ok && verdict.code !== undefined) input.peer.verifyError = verdict.code;
    if (state.token !== undefined) input.token = state.token;
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
      this.emit('decision', auditEvent(decision, subject, options.reason), subject.socket);
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

  #strictCrlHorizon(): number {
    if (this.trust.revocation !== 'strict') return Infinity;
    let horizon = Infinity;
    for (const crl of this.trust.crls) if (crl.nextUpdate !== null) horizon = Math.min(horizon, crl.nextUpdate);
    return horizon;
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

function auditEvent(decision: Decision, subject: AuthorizationSubject, note: string | undefined): DecisionEvent {
  const event: DecisionEvent = {
    trigger: decision.trigger,
    outcome: decision.allow ? 'allow' : 'deny',
    reason: decision.reason,
    durationMs: decision.durationMs,
    source: decision.source,
    expiresAt: decision.expiresAt,
  };
  const certificate = decision.certificate;
  if (certificate !== undefined) {
    const cn = commonName(certificate);
    if (cn !== undefined) event.subject = cn;
    event.subjectDN = certificate.subject;
    event.serial = certificate.serialNumber;
    event.fingerprint = certificate.fingerprint256;
  }
  const remote = subject.socket.remoteAddress;
  if (remote !== undefined) event.remoteAddress = remote;
  if (note !== undefined) event.note = note;
  return event;
}
