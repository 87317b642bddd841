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
 * - every error body is RFC 9457 `application/problem+json` {type, title, status, detail};
 * - allowed -> the handler runs, with the decision on `req.authorization`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ctlsError, invalidOption } from '../common/errors.js';
import { checkBoolean, checkFunction, checkObject, checkString } from '../common/validate.js';
import { DecisionCache, cached } from '../policy/cache.js';
import { factsReadBy } from '../policy/cache-key.js';
import { evaluatePolicy, isPolicy, checkPolicyTimeout, DEFAULT_POLICY_TIMEOUT_MS } from '../policy/evaluate.js';
import type { AuthorizationInput, ConnectionInfo, Decision, Policy } from '../common/types.js';
import { TokenVerifier, type JwtOptions, type TokenResult } from './token.js';
import { canonicalPath, EXPRESS_PATH_RULES, FASTIFY_PATH_RULES, NODE_PATH_RULES, type PathRules } from './path.js';
import { peerIdentity, type PeerSocket } from './peer.js';
import { problem, sendInternalError, sendRefusal, type RequestRefusal } from './problem.js';
import { stepUpChallenge, tokenChallenge, type StepUpObligation } from './challenge.js';
import { checkLogger, type Logger } from '../common/logger.js';
import { Observer } from '../authz/observe.js';
import { decisionEvent } from '../authz/audit-event.js';

export type { JwtOptions } from './token.js';
export type { PathRules } from './path.js';
export type { StepUpObligation } from './challenge.js';

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
  /** App signals for the policy (risk score, device …): becomes `input.context`. */
  context?: (req: IncomingMessage) => C | Promise<C>;
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
  /** A pino-compatible logger for decisions (docs/api.md, Observability). */
  logger?: Logger;
}

/** The result of authorizing one request: allowed, or the response to send instead. */
export type RequestOutcome = { allowed: true; authorization: RequestAuthorization } | RequestRefusal;

type NextFunction = (err?: unknown) => void;
type Handler = (req: IncomingMessage, res: ServerResponse) => unknown;

/** The part of a Fastify instance the plugin uses (fastify stays an optional peer of this library). */
interface FastifyInstanceLike {
  initialConfig?: Record<string, unknown> & { routerOptions?: Record<string, unknown> };
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
  decorateRequest(name: string, value: unknown): unknown;
  hasRequestDecorator(name: string): boolean;
}
interface FastifyRequestLike {
  raw: IncomingMessage;
  authorization?: unknown;
}
interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(body: Buffer): FastifyReplyLike;
}

export type FastifyAuthorizePlugin = (instance: FastifyInstanceLike, opts?: unknown) => Promise<void>;

export interface RequestAuthorizer {
  /** Authorizes one request; `rules` says how the router matches paths (default: node's URL parser). */
  authorize(req: IncomingMessage, rules?: PathRules): Promise<RequestOutcome>;
  /** Wraps a node:http(s) request handler. */
  node(handler: Handler): (req: IncomingMessage, res: ServerResponse) => void;
  /** Express middleware. */
  express(): (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;
  /** Fastify plugin (not encapsulated: its onRequest hook covers the whole app). */
  readonly fastify: FastifyAuthorizePlugin;
  readonly cache: DecisionCache | undefined;
  /** Requests being decided now (a gauge of DecisionMetrics). */
  readonly pendingDecisions: number;
}

// Fastify's documented escape from encapsulation (what fastify-plugin sets): the hook applies to
// every route of the instance that registers the plugin.
const kSkipOverride = Symbol.for('skip-override');
const kDisplayName = Symbol.for('fastify.display-name');

export function authorizeRequest<C extends object = Record<string, unknown>>(
  options: AuthorizeRequestOptions<C>,
): RequestAuthorizer {
  // The context's shape only types the app's own hooks and policy; the checks below hold for any.
  const o = checkOptions(options as unknown as AuthorizeRequestOptions);
  const cache =
    o.cache === false ? undefined : (o.cache ?? (factsReadBy(o.policy) !== null ? new DecisionCache() : undefined));
  const policy = cache ? cached(o.policy, cache) : o.policy;
  const verifier = o.jwt === undefined ? undefined : new TokenVerifier(o.jwt);
  const policyTimeout = o.policyTimeout;
  const nodeRules = withPaths(NODE_PATH_RULES, o.paths);
  const observer = new Observer(checkLogger(o.logger));
  let pending = 0;

  async function authorize(req: IncomingMessage, rules?: PathRules): Promise<RequestOutcome> {
    pending++;
    try {
      return await authorizeOne(req, rules ?? nodeRules);
    } finally {
      pending--;
    }
  }

  async function authorizeOne(req: IncomingMessage, rules: PathRules): Promise<RequestOutcome> {
    // The resource is the path the router will route, or the request is refused (see path.ts).
    const target = canonicalPath(requestTarget(req), rules);
    if (!target.ok) return problem(400, 'Bad Request', target.reason, {}, undefined);
    const token: TokenResult | undefined = verifier ? await verifier.verify(req.headers.authorization) : undefined;
    if (token?.status === 'invalid') return tokenChallenge(token.description, o.realm);
    if (token?.status === 'unavailable') return problem(503, 'Service Unavailable', token.description, {}, undefined);

    const socket = req.socket as PeerSocket;
    // The certificate of the handshake in force now, verified by that handshake (see peer.ts).
    const peer = peerIdentity(socket);
    const { certificate, verified } = peer;
    const input: AuthorizationInput = {
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
    };
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
    } else if (certificate && !(now >= peer.notBefore && now < peer.notAfter)) {
      // node checks validity once, at the handshake; a keep-alive connection outlives it.
      decision = denied('certificate-expired', certificate);
    } else {
      decision = await decide(input, req, peer.notAfter);
      // Credentials that lapsed while the policy ran, or a cached answer past its expiry, deny.
      const at = Date.now();
      if (
        decision.allow &&
        (!(Math.min(peer.notAfter, tokenExpiry(input)) > at) ||
          (decision.source === 'cache' && !(decision.expiresAt > at)))
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
    if (stepUp !== null && typeof stepUp === 'object')
      return stepUpChallenge(stepUp as StepUpObligation, decision, o.realm);
    return problem(403, 'Forbidden', decision.reason, {}, decision);
  }

  async function decide(input: AuthorizationInput, req: IncomingMessage, chainNotAfter: number): Promise<Decision> {
    if (o.context) {
      try {
        const ctx = await o.context(req);
        if (ctx === null || typeof ctx !== 'object') throw new TypeError('the context hook must return an object');
        input.context = ctx;
      } catch (err) {
        // Without its risk signals the policy cannot decide: fail closed.
        const error = ctlsError('ERR_CTLS_POLICY_FAILED', `The context hook failed: ${(err as Error).message}`, {
          cause: err,
        });
        return {
          allow: false,
          reason: 'policy-error',
          trigger: 'request',
          expiresAt: Infinity,
          source: 'engine',
          durationMs: 0,
          obligations: { error: error.message },
        };
      }
    }
    const d = await evaluatePolicy(policy, input, { policyTimeout, tier: 'request' });
    const decision: Decision = {
      allow: d.allow,
      reason: d.reason,
      trigger: 'request',
      expiresAt: Math.min(d.expiresAt, chainNotAfter, tokenExpiry(input)),
      source: d.source,
      durationMs: d.durationMs,
    };
    if (input.peer.certificate) decision.certificate = input.peer.certificate;
    if (d.obligations) decision.obligations = d.obligations;
    return decision;
  }

  const fastify = async function continuousTlsAuthorize(instance: FastifyInstanceLike): Promise<void> {
    if (!instance.hasRequestDecorator('authorization')) instance.decorateRequest('authorization', null);
    const rules = withPaths(fastifyRules(instance), o.paths);
    instance.addHook('onRequest', async (request, reply) => {
      const outcome = await authorize(request.raw, rules);
      if (outcome.allowed) {
        request.authorization = outcome.authorization;
        (request.raw as IncomingMessage & { authorization?: unknown }).authorization = outcome.authorization;
        return undefined;
      }
      // A Buffer, so Fastify sends the body and content-type exactly as given (no charset added).
      return reply.code(outcome.status).headers(outcome.headers).send(Buffer.from(outcome.body));
    });
  };
  Object.assign(fastify, { [kSkipOverride]: true, [kDisplayName]: 'continuous-tls-authorize' });

  return {
    authorize,
    node(handler) {
      if (typeof handler !== 'function') throw invalidOption('handler', 'a function', handler);
      return (req, res) => {
        authorize(req)
          .then((outcome) => {
            if (!outcome.allowed) return sendRefusal(res, outcome);
            (req as IncomingMessage & { authorization?: unknown }).authorization = outcome.authorization;
            return handler(req, res);
          })
          .catch((err: unknown) => sendInternalError(res, err));
      };
    },
    express() {
      return (req, res, next) => {
        authorize(req, withPaths(expressRules(req), o.paths)).then((outcome) => {
          if (!outcome.allowed) return sendRefusal(res, outcome);
          (req as IncomingMessage & { authorization?: unknown }).authorization = outcome.authorization;
          next();
        }, next);
      };
    },
    fastify,
    cache,
    get pendingDecisions() {
      return pending;
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

function requestTarget(req: IncomingMessage): string {
  // Express rewrites req.url inside mounted routers; originalUrl is what the client asked for.
  return (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
}

function tokenExpiry(input: AuthorizationInput): number {
  const exp = input.token?.['exp'];
  return typeof exp === 'number' ? exp * 1000 : Infinity;
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

function withPaths(base: Readonly<PathRules>, overrides: Partial<PathRules> | undefined): Readonly<PathRules> {
  return overrides === undefined ? base : Object.freeze({ ...base, ...overrides });
}

const EXPRESS_STRICT: Readonly<PathRules> = Object.freeze({ ...EXPRESS_PATH_RULES, ignoreTrailingSlash: false });
const EXPRESS_CASED: Readonly<PathRules> = Object.freeze({ ...EXPRESS_PATH_RULES, caseSensitive: true });
const EXPRESS_CASED_STRICT: Readonly<PathRules> = Object.freeze({
  ...EXPRESS_PATH_RULES,
  caseSensitive: true,
  ignoreTrailingSlash: false,
});

/** The app's `case sensitive routing` and `strict routing` settings (both off by default). */
function expressRules(req: IncomingMessage): Readonly<PathRules> {
  const app = (req as { app?: { get?: (name: string) => unknown } }).app;
  const cased = app?.get?.('case sensitive routing') === true;
  const strict = app?.get?.('strict routing') === true;
  return cased ? (strict ? EXPRESS_CASED_STRICT : EXPRESS_CASED) : strict ? EXPRESS_STRICT : EXPRESS_PATH_RULES;
}

/** Fastify 5 keeps router options in `routerOptions` (older 5.x: at the top level). */
function fastifyRules(instance: FastifyInstanceLike): Readonly<PathRules> {
  const config = instance.initialConfig;
  const router = config?.routerOptions ?? config;
  if (router === undefined) return FASTIFY_PATH_RULES;
  const flag = (name: string, fallback: boolean): boolean =>
    typeof router[name] === 'boolean' ? (router[name] as boolean) : fallback;
  return Object.freeze({
    caseSensitive: flag('caseSensitive', FASTIFY_PATH_RULES.caseSensitive),
    ignoreTrailingSlash: flag('ignoreTrailingSlash', FASTIFY_PATH_RULES.ignoreTrailingSlash),
    mergeSlashes: flag('ignoreDuplicateSlashes', FASTIFY_PATH_RULES.mergeSlashes),
    semicolonDelimiter: flag('useSemicolonDelimiter', FASTIFY_PATH_RULES.semicolonDelimiter),
  });
}

/** The path-matching rules `paths` may set. */
const PATH_RULE_NAMES: readonly string[] = [
  'caseSensitive',
  'ignoreTrailingSlash',
  'mergeSlashes',
  'semicolonDelimiter',
];

type CheckedOptions = Omit<AuthorizeRequestOptions, 'timeoutMs'> & { policyTimeout: number };

function checkOptions(options: AuthorizeRequestOptions): CheckedOptions {
  // Absent options fail on their required policy.
  const o = checkObject('options', options) ?? ({} as AuthorizeRequestOptions);
  if (!isPolicy(o.policy)) throw invalidOption('policy', 'a policy function or adapter', o.policy);
  if (o.cache !== undefined && o.cache !== false && !(o.cache instanceof DecisionCache))
    throw invalidOption('cache', 'a DecisionCache or false', o.cache);
  for (const k of ['context', 'action', 'resource', 'onDecision'] as const) checkFunction(k, o[k]);
  checkString('realm', o.realm);
  const { timeoutMs: _deprecated, paths, ...rest } = o;
  const checked: CheckedOptions = { ...rest, policyTimeout: checkPolicyTimeout(o) ?? DEFAULT_POLICY_TIMEOUT_MS };
  const rules = checkPaths(paths);
  if (rules !== undefined) checked.paths = rules;
  return checked;
}

/** The rules `paths` sets, each a boolean; an unknown name is refused, not ignored. */
function checkPaths(value: Partial<PathRules> | undefined): Partial<PathRules> | undefined {
  const paths = checkObject('paths', value);
  if (paths === undefined) return undefined;
  const rules: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(paths)) {
    if (!PATH_RULE_NAMES.includes(k)) throw invalidOption(`paths.${k}`, 'not set (unknown option)', v);
    const rule = checkBoolean(`paths.${k}`, v);
    if (rule !== undefined) rules[k] = rule;
  }
  return rules;
}
