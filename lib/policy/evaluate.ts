/**
 * The one way the library asks a policy anything. It turns whatever a policy answers (a boolean, a
 * DecisionLike, a promise of either, a throw) into a decision with an absolute expiry, and it fails
 * closed: an error, a late answer or an answer that is not a decision is a denial, never an allow.
 */
import { performance } from 'node:perf_hooks';
import { ContinuousTlsError, ctlsError, describeThrown, invalidOption } from '../common/errors.js';
import { checkDuration } from '../common/validate.js';
import { timerDelay } from '../common/timers.js';
import { ATTR, endSpan, SPAN_POLICY, startSpan } from '../common/otel.js';
import type { AuthorizationInput, DecisionLike, Policy, PolicyAdapter } from '../common/types.js';
import { handedToApp } from './cache-key.js';

export const DEFAULT_POLICY_TIMEOUT_MS = 200;

/** ms a policy may take before the decision fails closed: the server's `policyTimeout` too. */
export interface PolicyTimeoutOptions {
  /** Default 200 ms; adapters get an AbortSignal that fires then. */
  policyTimeout?: number;
  /** @deprecated The older name of `policyTimeout`; both given and different is an error. */
  timeoutMs?: number;
}

/**
 * The policy timeout in `options`: `policyTimeout` or its deprecated alias `timeoutMs`, undefined
 * when neither is given. Throws ERR_CTLS_INVALID_OPTION when both are given and differ.
 */
export function checkPolicyTimeout(options: PolicyTimeoutOptions): number | undefined {
  const timeout = checkDuration('policyTimeout', options.policyTimeout);
  const alias = checkDuration('timeoutMs', options.timeoutMs);
  if (timeout !== undefined && alias !== undefined && alias !== timeout) {
    throw invalidOption(
      'timeoutMs',
      `absent or equal to policyTimeout (${timeout}), whose deprecated alias it is`,
      alias,
    );
  }
  return timeout ?? alias;
}

export interface EvaluateOptions extends PolicyTimeoutOptions {
  /** Clock for expiresAt (epoch ms), default Date.now. */
  now?: () => number;
  /** Who asks ('owned', 'attached', 'request'): an attribute of the OpenTelemetry span. */
  tier?: string;
}

export interface EvaluatedDecision {
  allow: boolean;
  reason: string;
  /** Epoch ms; Infinity when the policy gave no TTL. */
  expiresAt: number;
  source: 'engine' | 'cache';
  durationMs: number;
  obligations?: Record<string, unknown>;
  /** Why the policy failed (allow is then false): ERR_CTLS_POLICY_*, or an adapter's own code. */
  error?: ContinuousTlsError;
}

/** A policy answer after normalization, before timing is attached. */
export interface NormalizedDecision {
  allow: boolean;
  reason: string;
  expiresAt: number;
  source: 'engine' | 'cache';
  obligations?: Record<string, unknown>;
}

/**
 * What an adapter may additionally put in its answer: `source: 'cache'` marks a cached decision
 * (the `cached()` wrapper does that on hits).
 */
export type SourcedDecisionLike = Exclude<DecisionLike, boolean> & { source?: 'engine' | 'cache' };

/** The signal of a policy call, made when the policy first asks for it. */
export type LazySignal = () => AbortSignal;

type LazyEvaluate = (this: PolicyAdapter, input: AuthorizationInput, signal: LazySignal) => unknown;

/**
 * An adapter's evaluate() that often answers without needing its abort signal (a cache hit, a
 * synchronous engine), with the same call taking the signal lazily: evaluatePolicy calls that one,
 * with a function that makes the signal on first use, so an answer that needs none costs no
 * AbortController (which would cost more than a whole cache hit). Keyed by the evaluate function
 * itself: an adapter whose evaluate() an app replaced or wrapped (`{ ...adapter, evaluate }`, an
 * audit wrapper) is called through that evaluate(), never around it.
 */
const lazyEvaluators = new WeakMap<PolicyAdapter['evaluate'], LazyEvaluate>();

/**
 * Declares `lazily` as `evaluate` taking its signal lazily. It must answer as evaluate() does, and
 * ask for the signal, if at all, before it returns: the timeout aborts the controller that exists
 * when the answer comes back.
 */
export function evaluatesLazily(evaluate: PolicyAdapter['evaluate'], lazily: LazyEvaluate): void {
  lazyEvaluators.set(evaluate, lazily);
  evaluatesAsLibrary(evaluate);
}

export function isPolicy(x: unknown): x is Policy {
  if (typeof x === 'function') return true;
  return x !== null && typeof x === 'object' && typeof (x as { evaluate?: unknown }).evaluate === 'function';
}

/** The name used in reasons and audit events: the adapter's `name`, else the function's, else 'anonymous'. */
export function policyName(p: Policy): string {
  if (typeof p === 'function') return p.name !== '' ? p.name : 'anonymous';
  return typeof p.name === 'string' && p.name !== '' ? p.name : 'anonymous';
}

/**
 * Adapters of the library's own whose evaluate() gives the input to app code only through
 * invokePolicy or evaluatePolicy (a composition, a cache), or says so itself (Cedar's mapping
 * hooks): calling them leaves an input the library built marked as its own (see handedToApp).
 */
const libraryEvaluators = new WeakSet<PolicyAdapter['evaluate']>();

export function evaluatesAsLibrary(evaluate: PolicyAdapter['evaluate']): void {
  libraryEvaluators.add(evaluate);
}

/** Before `policy` sees `input`: app code may change it, so a later cache key checks it in full. */
function beforeApp(policy: Policy, input: AuthorizationInput): void {
  if (typeof policy === 'function' || !libraryEvaluators.has(policy.evaluate)) handedToApp(input);
}

/** Calls a policy once, without timeout or normalization: the raw answer or a thrown error. */
export function invokePolicy(policy: Policy, input: AuthorizationInput, signal: AbortSignal): unknown {
  beforeApp(policy, input);
  return typeof policy === 'function' ? policy(input) : policy.evaluate(input, signal);
}

/**
 * Turns a raw answer into a decision, or throws ERR_CTLS_POLICY_FAILED when it is not one. A missing
 * reason becomes 'allowed' / 'denied'; `ttlMs` and `expiresAt` both bound the expiry.
 */
export function normalizeDecision(answer: unknown, now: () => number, name: string): NormalizedDecision {
  if (answer === true) return { allow: true, reason: 'allowed', expiresAt: Infinity, source: 'engine' };
  if (answer === false) return { allow: false, reason: 'denied', expiresAt: Infinity, source: 'engine' };
  if (answer === null || typeof answer !== 'object' || typeof (answer as { allow?: unknown }).allow !== 'boolean') {
    throw notADecision(name, answer);
  }
  const d = answer as SourcedDecisionLike;
  let expiresAt = Infinity;
  if (d.expiresAt !== undefined) {
    if (typeof d.expiresAt !== 'number' || Number.isNaN(d.expiresAt)) throw notADecision(name, answer, 'expiresAt');
    expiresAt = d.expiresAt;
  }
  if (d.ttlMs !== undefined) {
    if (typeof d.ttlMs !== 'number' || !(d.ttlMs >= 0)) throw notADecision(name, answer, 'ttlMs');
    expiresAt = Math.min(expiresAt, now() + d.ttlMs);
  }
  const out: NormalizedDecision = {
    allow: d.allow,
    reason: typeof d.reason === 'string' && d.reason !== '' ? d.reason : d.allow ? 'allowed' : 'denied',
    expiresAt,
    source: d.source === 'cache' ? 'cache' : 'engine',
  };
  if (d.obligations !== undefined) {
    if (d.obligations === null || typeof d.obligations !== 'object') throw notADecision(name, answer, 'obligations');
    out.obligations = d.obligations;
  }
  return out;
}

/**
 * Runs a policy under a caller's signal and normalizes the answer; throws on failure. This is what
 * composition uses (the outer evaluatePolicy owns the timeout). Rejects as soon as the signal aborts.
 */
export async function runPolicy(
  policy: Policy,
  input: AuthorizationInput,
  signal: AbortSignal,
  now: () => number,
): Promise<NormalizedDecision> {
  return normalizeDecision(await askPolicy(policy, input, signal), now, policyName(policy));
}

/** The raw answer of a policy under a caller's signal: rejects with the signal's reason when it aborts. */
export async function askPolicy(policy: Policy, input: AuthorizationInput, signal: AbortSignal): Promise<unknown> {
  signal.throwIfAborted();
  return raceSignal(invokePolicy(policy, input, signal), signal);
}

/**
 * Asks `policy` about `input` and never rejects: every failure is a denial carrying an `error`.
 * A synchronous policy costs no timer; a late answer of any kind counts as a timeout.
 */
export function evaluatePolicy(
  policy: Policy,
  input: AuthorizationInput,
  options: EvaluateOptions = {},
): Promise<EvaluatedDecision> {
  // A span around the evaluation when the application traces; nothing in the way otherwise (not
  // even another async step: this is on every decision's path).
  const span = startSpan(SPAN_POLICY, () => ({
    [ATTR.policy]: isPolicy(policy) ? policyName(policy) : 'invalid',
    [ATTR.trigger]: String(input?.trigger),
    ...(typeof options?.tier === 'string' ? { [ATTR.tier]: options.tier } : {}),
  }));
  if (span === undefined) return evaluate(policy, input, options);
  return evaluate(policy, input, options).then((d) => {
    endSpan(
      span,
      { [ATTR.outcome]: d.allow ? 'allow' : 'deny', [ATTR.source]: d.source, [ATTR.reason]: d.reason },
      d.error,
    );
    return d;
  });
}

async function evaluate(
  policy: Policy,
  input: AuthorizationInput,
  options: EvaluateOptions,
): Promise<EvaluatedDecision> {
  const start = performance.now();
  const { now = Date.now } = options;
  if (!isPolicy(policy)) return failed(invalidOption('policy', 'a policy function or adapter'), start);
  let timeoutMs: number;
  try {
    timeoutMs = checkPolicyTimeout(options) ?? DEFAULT_POLICY_TIMEOUT_MS;
  } catch (err) {
    return failed(err as ContinuousTlsError, start);
  }
  const name = policyName(policy);
  try {
    let answer: unknown;
    let controller: AbortController | undefined;
    beforeApp(policy, input);
    if (typeof policy === 'function') {
      // A function gets no signal, so there is nothing to abort: no controller needed.
      answer = policy(input);
    } else {
      const lazily = lazyEvaluators.get(policy.evaluate);
      if (lazily === undefined) {
        controller = new AbortController();
        answer = policy.evaluate(input, controller.signal);
      } else {
        answer = lazily.call(policy, input, () => (controller ??= new AbortController()).signal);
      }
    }
    if (isThenable(answer)) answer = await withTimeout(answer, controller, timeoutMs, name);
    // The timer only starts once the policy returns: a synchronous policy (or one wrapped in a cache,
    // whose miss answers with a promise) that blocked past the timeout is late however it answers.
    if (performance.now() - start > timeoutMs) throw timeoutError(name, timeoutMs);
    const d = normalizeDecision(answer, now, name) as EvaluatedDecision;
    d.durationMs = performance.now() - start;
    return d;
  } catch (err) {
    return failed(asPolicyError(err, name), start);
  }
}

function failed(error: ContinuousTlsError, start: number): EvaluatedDecision {
  return {
    allow: false,
    reason: error.code === 'ERR_CTLS_POLICY_TIMEOUT' ? 'policy-timeout' : 'policy-error',
    expiresAt: Infinity,
    source: 'engine',
    durationMs: performance.now() - start,
    error,
  };
}

/** Coded library errors (a PDP's ERR_CTLS_PDP_HTTP, Cedar's ERR_CTLS_CEDAR …) keep their code. */
function asPolicyError(err: unknown, name: string): ContinuousTlsError {
  if (isCodedError(err)) return err;
  const message = describeThrown(err);
  return ctlsError('ERR_CTLS_POLICY_FAILED', `Policy "${name}" failed: ${message}`, { cause: err });
}

function withTimeout(
  answer: PromiseLike<unknown>,
  controller: AbortController | undefined,
  ms: number,
  name: string,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      const err = timeoutError(name, ms);
      // Tell the adapter to stop (an HTTP request is cancelled), then answer without waiting for it.
      controller?.abort(err);
      reject(err);
    }, timerDelay(ms));
    answer.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

function raceSignal(answer: unknown, signal: AbortSignal): unknown {
  if (!isThenable(answer)) return answer;
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    answer.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (
    x !== null &&
    (typeof x === 'object' || typeof x === 'function') &&
    typeof (x as { then?: unknown }).then === 'function'
  );
}

function timeoutError(name: string, ms: number): ContinuousTlsError {
  return ctlsError('ERR_CTLS_POLICY_TIMEOUT', `Policy "${name}" did not answer within ${ms} ms`);
}

function notADecision(name: string, answer: unknown, field?: string): ContinuousTlsError {
  const what = field === undefined ? describe(answer) : `an invalid "${field}"`;
  return ctlsError('ERR_CTLS_POLICY_FAILED', `Policy "${name}" answered ${what}, which is not a decision`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object without a boolean "allow"';
  return `a ${typeof value}`;
}

/** Whether `err` is the library's own coded error, asked so that a revoked Proxy is not. */
function isCodedError(err: unknown): err is ContinuousTlsError {
  try {
    return err instanceof ContinuousTlsError;
  } catch {
    return false;
  }
}
