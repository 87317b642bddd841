/**
 * Per-request authorization for REST APIs: node:http(s) (a handler wrapper), Express (middleware)
 * and Fastify (a plugin). Every request is decided from the mTLS identity of its connection, an
 * optional short-lived bearer JWT, the method and path, and app-supplied risk signals, through the
 * same policy interface (and decision cache) as connections.
 *
 * Answers:
 * - missing / invalid / expired token -> 401, `WWW-Authenticate: Bearer error="invalid_token"`
 *   (RFC 6750 §3, §3.1);
 * - a denial carrying a step-up obligation -> 401 with a challenge (see StepUpObligation);
 * - any other denial, including a policy that failed or timed out -> 403;
 * - every error body is RFC 9457 `application/problem+json` {type, title, status, detail}; a
 *   denial's detail is generic unless `exposeReason` (the policy's reason may name policies, rules or
 *   decision points: it goes to onDecision and onDeny, not to the client);
 * - allowed -> the handler runs, with the decision on `req.authorization`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ContinuousTlsError, ctlsError, invalidOption } from '../common/errors.js';
import { checkBoolean, checkDuration, checkFunction, checkObject, checkString } from '../common/validate.js';
import { DecisionCache, cached } from '../policy/cache.js';
import { builtByLibrary, factsReadBy } from '../policy/cache-key.js';
import { evaluatePolicy, isPolicy, checkPolicyTimeout, DEFAULT_POLICY_TIMEOUT_MS } from '../policy/evaluate.js';
import type { AuthorizationInput, ConnectionInfo, Decision, Policy } from '../common/types.js';
import { TokenVerifier, type JwtOptions, type TokenResult } from './token.js';
import { canonicalPath, NODE_PATH_RULES, type CanonicalPath, type PathRules } from './path.js';
import { checkPaths, requestTarget, withPaths } from './path-options.js';
import { peerChain, peerIdentity, type PeerSocket } from './peer.js';
import { conflictingAuthority, requestHostName, resumedSniAnswer } from './node-server-trust.js';
import { GENERIC_DENIAL, problem, sendInternalError, type RequestRefusal } from './problem.js';
import { stepUpChallenge, tokenChallenge, type StepUpObligation } from './challenge.js';
import { answerRefusal, type DenyHook } from './deny.js';
import { expressMiddleware, type ExpressMiddleware, type ExpressMountOptions } from './express.js';
import { fastifyPlugin, type FastifyAuthorizePlugin } from './fastify.js';
import { checkLogger, type Logger } from '../common/logger.js';
import { Observer } from '../authz/observe.js';
import { decisionEvent } from '../authz/audit-event.js';
import {
  GuardSet,
  kGuardHost,
  sameVerdict,
  type GuardFacts,
  type GuardHost,
  type GuardVerdict,
} from '../authz/guard.js';

export type { JwtOptions } from './token.js';
export type { PathRules } from './path.js';
export type { StepUpObligation } from './challenge.js';
export type { RequestRefusal } from './problem.js';
export type { DenyHook } from './deny.js';
export type { ExpressMiddleware, ExpressMountOptions } from './express.js';
export type {
  FastifyAuthorizeOptions,
  FastifyAuthorizePlugin,
  FastifyInstanceLike,
  FastifyReplyLike,
  FastifyRequestLike,
} from './fastify.js';
import { timerDelay } from '../common/timers.js';

/** What `req.authorization` holds once a request is allowed. */
export interface RequestAuthorization extends Decision {
  input: AuthorizationInput;
}

/** `C` is the shape of what the `context` hook returns, which policies read as `input.context`. */
export interface AuthorizeRequestOptions<C extends object = Record<string, unknown>> {
  policy: Policy<C>;
  /**
   * Decision cache. Default: a new DecisionCache when the policy declares the facts it reads
   * (`factsRead()`, as Cedar policies do), so the key covers them; none for a policy that does not
   * (a plain function may read anything, down to the connection's age). `false`: never cache.
   */
  cache?: DecisionCache | false;
  jwt?: JwtOptions;
  /**
   * App signals for the policy (risk score, device …): becomes `input.context`. Bounded by
   * `contextTimeout`: a hook that has not answered by then denies the request (fail closed), and its
   * `signal` aborts so the lookup can stop.
   */
  context?: (req: IncomingMessage, options: { signal: AbortSignal }) => C | Promise<C>;
  /** ms the `context` hook may take before the request is denied, default `policyTimeout`. */
  contextTimeout?: number;
  /** Default: the HTTP method, HEAD read as GET (routers run GET handlers for HEAD). */
  action?: (req: IncomingMessage) => string;
  /** Default: `input.request.path`, the canonical path the router routes (see path.ts). */
  resource?: (req: IncomingMessage) => string;
  /**
   * How the router matches paths, for the canonical request path. Default: read from the Express
   * app's settings or the Fastify instance's options; `new URL()` semantics for node(). Set it when
   * a mounted express.Router() has other `caseSensitive` / `strict` settings than its app.
   */
  paths?: Partial<PathRules>;
  /**
   * ms the policy may take before the request is denied (fail closed), default 200: the server's
   * `policyTimeout`.
   */
  policyTimeout?: number;
  /** @deprecated The older name of `policyTimeout`; both given and different is an error. */
  timeoutMs?: number;
  /** Audit hook, called for every decision (allowed or not). */
  onDecision?: (decision: Decision, input: AuthorizationInput<C>) => void;
  /** `realm` of the WWW-Authenticate challenges. Default: none. */
  realm?: string;
  /**
   * Send the policy's reason as the detail of a 403 (and of a step-up challenge without its own
   * description). Default false: the detail is 'access denied', since reasons may name policies,
   * rules or decision points.
   */
  exposeReason?: boolean;
  /**
   * Shapes the answer to a refused request (node(), express(), and fastify unless the plugin has its
   * own): it may write its own response, or set headers and leave the default problem to be sent.
   */
  onDeny?: DenyHook;
  /** A pino-compatible logger for decisions (docs/api.md, Observability). */
  logger?: Logger;
}

/** The result of authorizing one request: allowed, or the response to send instead. */
export type RequestOutcome = { allowed: true; authorization: RequestAuthorization } | RequestRefusal;

type Handler = (req: IncomingMessage, res: ServerResponse) => unknown;

export interface RequestAuthorizer {
  /**
   * Authorizes one request; `rules` says how the router matches paths (default: node's URL parser).
   * The path is `req.url`, behind `req.baseUrl` when Express has stripped a mount path from it.
   */
  authorize(req: IncomingMessage, rules?: PathRules): Promise<RequestOutcome>;
  /** Wraps a node:http(s) request handler. */
  node(handler: Handler): (req: IncomingMessage, res: ServerResponse) => void;
  /** Express middleware for the app or a router; `paths` says how a router matches paths (see express.ts). */
  express(options?: ExpressMountOptions): ExpressMiddleware;
  /** Fastify plugin (not encapsulated: its onRequest hook covers the whole app); see fastify.ts for its options. */
  readonly fastify: FastifyAuthorizePlugin;
  readonly cache: DecisionCache | undefined;
  /** Requests being decided now (a gauge of DecisionMetrics). */
  readonly pendingDecisions: number;
  /** What a fleet drives when it watches this authorizer (fleet.watch(authorizer)). */
  readonly [kGuardHost]: GuardHost;
}

/** How often a decision is made again because a guard changed while the policy decided it. */
const MAX_GUARD_ROUNDS = 4;

export function authorizeRequest<C extends object = Record<string, unknown>>(
  options: AuthorizeRequestOptions<C>,
): RequestAuthorizer {
  // The context's shape only types the app's own hooks and policy; the checks below hold for any.
  const o = checkOptions(options as unknown as AuthorizeRequestOptions);
  const cache =
    o.cache === false ? undefined : (o.cache ?? (factsReadBy(o.policy) !== null ? new DecisionCache() : undefined));
  const policy = cache ? cached(o.policy, cache) : o.policy;
  const verifier = o.jwt === undefined ? undefined : new TokenVerifier(o.jwt);
  const tokenToleranceMs = (o.jwt?.clockToleranceSec ?? 0) * 1000;
  const policyTimeout = o.policyTimeout;
  const contextTimeout = checkDuration('contextTimeout', o.contextTimeout, policyTimeout);
  const nodeRules = withPaths(NODE_PATH_RULES, o.paths);
  const observer = new Observer(checkLogger(o.logger));
  const guards = new GuardSet();
  let pending = 0;

  function authorize(req: IncomingMessage, rules: PathRules = nodeRules): Promise<RequestOutcome> {
    // The resource is the path the router will route, or the request is refused (see path.ts).
    return authorizeTarget(req, canonicalPath(requestTarget(req), rules));
  }

  async function authorizeTarget(req: IncomingMessage, target: CanonicalPath): Promise<RequestOutcome> {
    pending++;
    try {
      return await authorizeOne(req, target);
    } finally {
      pending--;
    }
  }

  async function authorizeOne(req: IncomingMessage, target: CanonicalPath): Promise<RequestOutcome> {
    if (!target.ok) return problem(400, 'Bad Request', target.reason, {}, undefined);
    if (conflictingAuthority(req.headers))
      return problem(400, 'Bad Request', 'the Host header names another host than :authority', {}, undefined);
    const token: TokenResult | undefined = verifier ? await verifier.verify(req.headers.authorization) : undefined;
    if (token?.status === 'invalid') return tokenChallenge(token.description, o.realm);
    if (token?.status === 'unavailable') return problem(503, 'Service Unavailable', token.description, {}, undefined);

    const socket = req.socket as PeerSocket;
    // A resumed session behind an app's SNICallback is judged by what the callback answers now.
    const host = requestHostName(req.headers);
    const sniAnswer = resumedSniAnswer(socket, host);
    if (sniAnswer !== undefined) await sniAnswer;
    // The certificate of the handshake in force now, verified by that handshake (see peer.ts).
    const peer = peerIdentity(socket, host);
    const { certificate, verified } = peer;
    const input: AuthorizationInput = builtByLibrary({
      trigger: 'request',
      peer: { chain: certificate ? [certificate] : [], verified },
      connection: connectionInfo(socket),
      // HEAD is GET without the body (RFC 9110 §9.3.2), and routers run the GET handler for it.
      request: {
        method: req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET'),
        path: target.path,
        headers: req.headers,
      },
      context: {},
    });
    if (certificate) input.peer.certificate = certificate;
    if (peer.verifyError !== undefined) input.peer.verifyError = peer.verifyError;
    if (token?.status === 'valid') input.token = token.claims;
    if (o.action) input.action = o.action(req);
    if (o.resource) input.resource = o.resource(req);

    let decision: Decision;
    const now = Date.now();
    if (certificate && !verified) {
      // A presented certificate that did not verify denies before any policy runs (as on connections).
      decision = denied(`certificate-unverified: ${input.peer.verifyError ?? 'unknown'}`, certificate);
    } else if (certificate && !peer.chainKnown) {
      // A resumed session shows its leaf alone; its window is the whole chain's, or none (peer.ts).
      decision = denied('certificate-chain-unknown', certificate);
    } else if (certificate && !(now >= peer.notBefore && now < peer.notAfter)) {
      // node checks validity once, at the handshake; a keep-alive connection outlives it.
      decision = denied('certificate-expired', certificate);
    } else {
      decision = await decideGuarded(input, req, socket, peer.notAfter);
      // Credentials that lapsed while the policy ran, or an allow past its own expiry (a cached one,
      // or one the policy answered with an expiresAt already gone), deny.
      const at = Date.now();
      if (
        decision.allow &&
        (!(Math.min(peer.notAfter, tokenExpiry(input, tokenToleranceMs)) > at) || !(decision.expiresAt > at))
      ) {
        decision = denied('decision-expired', certificate, decision.source);
      }
    }
    if (o.onDecision) {
      try {
        o.onDecision(decision, input);
      } catch (err) {
        process.emitWarning(`onDecision threw: ${String(err)}`, 'ContinuousTlsWarning');
      }
    }
    if (observer.wantsDecision(decision.allow, decision.reason))
      observer.decision('request', decisionEvent(decision, input), { request: req });
    if (decision.allow) {
      // Object.assign, not `{ ...decision, input }`: see contextFacts() in policy/facts.ts.
      const authorization = Object.assign({}, decision) as RequestAuthorization;
      authorization.input = input;
      return { allowed: true, authorization };
    }
    const stepUp = decision.obligations?.['stepUp'];
    if (decision.reason === 'fleet-stale')
      return problem(503, 'Service Unavailable', 'authorization state is not current', {}, decision);
    if (stepUp !== null && typeof stepUp === 'object')
      return stepUpChallenge(stepUp as StepUpObligation, decision, o.realm, o.exposeReason === true);
    return problem(403, 'Forbidden', o.exposeReason === true ? decision.reason : GENERIC_DENIAL, {}, decision);
  }

  /**
   * Guards (a fleet's revocations and signals) judge the peer first; their signals are input for
   * the policy. A guard change while the policy decides sends the request back to be decided again.
   */
  async function decideGuarded(
    input: AuthorizationInput,
    req: IncomingMessage,
    socket: PeerSocket,
    chainNotAfter: number,
  ): Promise<Decision> {
    if (guards.size === 0) return decide(input, req, chainNotAfter);
    const leaf = input.peer.certificate;
    const facts: GuardFacts = {
      chain: leaf === undefined ? [] : peerChain(socket, leaf),
      token: input.token,
      connectionSince: connectionSince(socket),
      tier: 'request',
    };
    let verdict: GuardVerdict = guards.judge(facts, Date.now());
    for (let round = 0; round < MAX_GUARD_ROUNDS; round++) {
      const generation = guards.generation;
      if (verdict.deny !== undefined) return guardDenial(verdict, leaf);
      if (verdict.signals !== undefined) input.signals = verdict.signals;
      else delete input.signals;
      const decision = await decide(input, req, chainNotAfter);
      if (guards.generation === generation) return decision;
      // Guards changed meanwhile: the answer stands if they still say the same of this peer (a
      // flood of events about others must not keep this request undecided).
      const now = guards.judge(facts, Date.now());
      if (sameVerdict(now, verdict)) return decision;
      verdict = now;
    }
    return denied('trust-unsettled', leaf);
  }

  async function decide(input: AuthorizationInput, req: IncomingMessage, chainNotAfter: number): Promise<Decision> {
    if (o.context) {
      const started = performance.now();
      try {
        const ctx = await askContext(o.context, req, contextTimeout);
        if (ctx === null || typeof ctx !== 'object') throw new TypeError('the context hook must return an object');
        input.context = ctx;
      } catch (err) {
        // Without its risk signals the policy cannot decide: fail closed.
        const late = err instanceof ContinuousTlsError && err.code === 'ERR_CTLS_POLICY_TIMEOUT';
        const error = late
          ? err
          : ctlsError('ERR_CTLS_POLICY_FAILED', `The context hook failed: ${(err as Error).message}`, { cause: err });
        return {
          allow: false,
          reason: late ? 'policy-timeout' : 'policy-error',
          trigger: 'request',
          expiresAt: Infinity,
          source: 'engine',
          durationMs: performance.now() - started,
          obligations: { error: error.message },
        };
      }
    }
    const d = await evaluatePolicy(policy, input, { policyTimeout, tier: 'request' });
    const decision: Decision = {
      allow: d.allow,
      reason: d.reason,
      trigger: 'request',
      expiresAt: Math.min(d.expiresAt, chainNotAfter, tokenExpiry(input, tokenToleranceMs)),
      source: d.source,
      durationMs: d.durationMs,
    };
    if (input.peer.certificate) decision.certificate = input.peer.certificate;
    if (d.obligations) decision.obligations = d.obligations;
    return decision;
  }

  const adapter = { decide: authorizeTarget, authorize, paths: o.paths, onDeny: o.onDeny };
  const fastify = fastifyPlugin(adapter);

  return {
    authorize,
    node(handler) {
      if (typeof handler !== 'function') throw invalidOption('handler', 'a function', handler);
      return (req, res) => {
        // A node:http handler routes req.url itself.
        authorizeTarget(req, canonicalPath(req.url ?? '/', nodeRules))
          .then((outcome) => {
            if (!outcome.allowed) return answerRefusal(req, res, outcome, o.onDeny);
            (req as IncomingMessage & { authorization?: unknown }).authorization = outcome.authorization;
            return handler(req, res);
          })
          .catch((err: unknown) => sendInternalError(res, err));
      };
    },
    express(options) {
      const mount = checkObject('express options', options);
      return expressMiddleware(adapter, checkPaths('paths', mount?.paths));
    },
    fastify,
    cache,
    get pendingDecisions() {
      return pending;
    },
    [kGuardHost]: {
      kind: 'requests',
      addGuard: (guard) => void guards.add(guard),
      removeGuard: (guard) => void guards.remove(guard),
      // No live state to re-decide: every request meets the guards before the policy or its cache,
      // and an identity provider's signals are part of every cache key.
      recheckKeys: () => Promise.resolve([]),
      invalidatePolicy() {
        cache?.flush();
        flushAdapterCache(o.policy);
        return Promise.resolve([]);
      },
      // CRLs of node:https are node's; the guard checks the serials a shared CRL revokes.
      setSharedCrls: () => Promise.resolve([]),
      connectionCount: 0,
    },
  };
}

/** Connection facts that do not change per request, memoized per socket. */
const connections = new WeakMap<object, { info: Omit<ConnectionInfo, 'ageMs' | 'reauthCount'>; since: number }>();

function connectionInfo(socket: PeerSocket): ConnectionInfo {
  let entry = connections.get(socket);
  if (entry === undefined) {
    const info: Omit<ConnectionInfo, 'ageMs' | 'reauthCount'> = {};
    if (socket.remoteAddress !== undefined) info.remoteAddress = socket.remoteAddress;
    if (socket.servername !== undefined) info.servername = socket.servername;
    if (socket.alpnProtocol !== undefined) info.alpnProtocol = socket.alpnProtocol;
    const protocol = socket.getProtocol?.();
    if (protocol !== undefined) info.protocol = protocol;
    const cipher = socket.getCipher?.()?.name;
    if (cipher !== undefined) info.cipher = cipher;
    // The age counts from this socket's first request: node:http exposes no connection start time.
    entry = { info, since: Date.now() };
    connections.set(socket, entry);
  }
  // Object.assign, then extended, not `{ ...entry.info, ageMs, reauthCount }`: see contextFacts()
  // in policy/facts.ts.
  const connection = Object.assign({}, entry.info) as ConnectionInfo;
  connection.ageMs = Date.now() - entry.since;
  connection.reauthCount = typeof socket.reauthCount === 'number' ? socket.reauthCount : 0;
  return connection;
}

/**
 * When the request's connection began, for guards. The owned tier's sockets know; node's do not
 * (its first request may come long after the handshake), and an unknown start counts as earlier
 * than anything, so a revocation dated after the handshake is never escaped by waiting to send.
 */
function connectionSince(socket: PeerSocket): number {
  const createdAt = (socket as { createdAt?: unknown }).createdAt;
  return typeof createdAt === 'number' ? createdAt : -Infinity;
}

function guardDenial(verdict: GuardVerdict & { deny: string }, certificate: Decision['certificate']): Decision {
  const decision = denied(verdict.deny, certificate);
  if (verdict.error !== undefined)
    Object.defineProperty(decision, 'error', { value: verdict.error, enumerable: false });
  return decision;
}

/** A policy adapter's own cache (a cached() policy, or one with flush()). */
function flushAdapterCache(policy: Policy): void {
  const adapter = policy as { flush?: unknown; cache?: { flush?: unknown } };
  if (typeof adapter.flush === 'function') (adapter.flush as () => void).call(policy);
  const inner = adapter.cache;
  if (inner !== undefined && typeof inner.flush === 'function') (inner.flush as () => void).call(inner);
}

/**
 * When the request's token stops being accepted: its `exp`, plus the clock skew the verifier
 * tolerates (`jwt.clockToleranceSec`), or a token just past `exp` would verify and then be denied.
 */
function tokenExpiry(input: AuthorizationInput, toleranceMs: number): number {
  const exp = input.token?.['exp'];
  return typeof exp === 'number' ? exp * 1000 + toleranceMs : Infinity;
}

function denied(
  reason: string,
  certificate: Decision['certificate'],
  source: Decision['source'] = 'verification',
): Decision {
  const decision: Decision = { allow: false, reason, trigger: 'request', expiresAt: Infinity, source, durationMs: 0 };
  if (certificate) decision.certificate = certificate;
  return decision;
}

/**
 * The app's context hook, bounded: a pending state is a budget, so a risk service that hangs denies
 * the request after `timeout` ms instead of keeping it (and its socket) waiting. The hook's signal
 * aborts then, so its lookup can stop too.
 */
async function askContext<C>(
  hook: (req: IncomingMessage, options: { signal: AbortSignal }) => C | Promise<C>,
  req: IncomingMessage,
  timeout: number,
): Promise<C> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const error = ctlsError('ERR_CTLS_POLICY_TIMEOUT', `The context hook did not answer within ${timeout} ms`);
      controller.abort(error);
      reject(error);
    }, timerDelay(timeout));
  });
  try {
    return await Promise.race([hook(req, { signal: controller.signal }), late]);
  } finally {
    clearTimeout(timer);
  }
}

type CheckedOptions = Omit<AuthorizeRequestOptions, 'timeoutMs'> & { policyTimeout: number };

function checkOptions(options: AuthorizeRequestOptions): CheckedOptions {
  // Absent options fail on their required policy.
  const o = checkObject('options', options) ?? ({} as AuthorizeRequestOptions);
  if (!isPolicy(o.policy)) throw invalidOption('policy', 'a policy function or adapter', o.policy);
  if (o.cache !== undefined && o.cache !== false && !(o.cache instanceof DecisionCache))
    throw invalidOption('cache', 'a DecisionCache or false', o.cache);
  for (const k of ['context', 'action', 'resource', 'onDecision', 'onDeny'] as const) checkFunction(k, o[k]);
  checkString('realm', o.realm);
  checkBoolean('exposeReason', o.exposeReason);
  const { timeoutMs: _deprecated, paths, ...rest } = o;
  const checked: CheckedOptions = { ...rest, policyTimeout: checkPolicyTimeout(o) ?? DEFAULT_POLICY_TIMEOUT_MS };
  const rules = checkPaths('paths', paths);
  if (rules !== undefined) checked.paths = rules;
  return checked;
}
