/**
 * `continuous-tls pdp`: a stateless OpenID AuthZEN 1.0 decision endpoint backed by the embedded
 * Cedar adapter, reloading its policies directory while it runs. This file is the server's request
 * flow and its limits, which share one state (request parsing is pdp-request.ts, readiness
 * pdp-readiness.ts, the command line cli-args.ts). Stateless means any number of
 * them can sit behind a load balancer and API servers can point authzenPolicy() at any of them.
 *
 * Endpoints (AuthZEN Authorization API 1.0):
 * - POST /access/v1/evaluation   Access Evaluation API: {subject, action, resource, context} -> {decision, context}
 * - POST /access/v1/evaluations  Access Evaluations API: defaults + `evaluations` array -> {evaluations: [...]}
 * - GET  /.well-known/authzen-configuration  PDP metadata
 * - GET  /healthz  the process is up; GET /readyz  the policies in force are the directory's (503 while
 *   a reload failed). The only endpoints answered without authentication, so they say nothing more.
 * Callers authenticate with a bearer token (RFC 6750) and/or a client certificate; open mode must be
 * asked for (insecureOpen). Errors are RFC 9457 problem documents. One request's work is bounded
 * (body bytes, evaluations, context values) and a batch yields to the event loop as it runs.
 * An AuthZEN request maps to Cedar as principal = <subject.type>::"<subject.id>", action =
 * Action::"<action.name>", resource = <resource.type>::"<resource.id>", context = context, the
 * inverse of the default client mapping in policy/http-pdp.ts, so embedded and remote agree.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { ContinuousTlsError, invalidOption } from '../common/errors.js';
import { checkBoolean, checkCount, checkObject, checkString } from '../common/validate.js';
import { CedarPolicy, PreparedCedarContext } from '../policy/cedar/policy.js';
import { formatDiagnostic } from '../policy/cedar/values.js';
import { PdpReadiness } from './pdp-readiness.js';
import { Problem, badRequest, parseRequest, pick, readJson, type ParsedRequest } from './pdp-request.js';

export interface PdpLimits {
  /** Request body bytes; more is answered 413. Default 256 KiB. */
  maxBodyBytes?: number;
  /** Evaluations in one Access Evaluations request; more is answered 413. Default 1000. */
  maxEvaluations?: number;
  /** Values (scalars, sets, records) in one context; more is answered 400. Default 4096. */
  maxContextValues?: number;
  /**
   * ms of evaluation one Access Evaluations request may use; the evaluations past it are denied
   * alone (reason `work_budget_exceeded`). Set comparisons make single evaluations costly, and the
   * other limits bound sizes, not work. Default 2000.
   */
  maxWorkMs?: number;
}

export interface PdpServerOptions {
  /** Directory of *.cedar files (plus optional entities.json and schema.cedarschema[.json]). */
  policies: string;
  /** Default 0: any free port (read it back from `url`). */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Reload the directory when it changes. Default true. */
  watch?: boolean;
  /** Serve HTTPS; with `ca`, require and verify client certificates (mTLS). */
  tls?: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer; crl?: string | Buffer };
  /**
   * Bearer tokens (RFC 6750), at least 16 characters each: a caller must send
   * `Authorization: Bearer <one of them>`. With `tls.ca` too, a caller needs both.
   */
  tokens?: string[];
  /**
   * Serve without authentication: anyone who reaches the port learns every decision and its
   * reasons. Required when neither `tls.ca` nor `tokens` is given.
   */
  insecureOpen?: boolean;
  limits?: PdpLimits;
  /** Where reloads and policy errors are reported. Default: nowhere. */
  log?: (line: string) => void;
}

export interface PdpServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly policy: CedarPolicy;
  /**
   * Re-reads the policies directory now, as the watcher does; resolves true when a new set was
   * loaded. Use it rather than `policy.reload()`, so that /readyz follows.
   */
  reload(): Promise<boolean>;
  close(): Promise<void>;
}

const EVALUATION = '/access/v1/evaluation';
const EVALUATIONS = '/access/v1/evaluations';
const METADATA = '/.well-known/authzen-configuration';
const HEALTHZ = '/healthz';
const READYZ = '/readyz';
const SEMANTICS = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const;
const DEFAULT_LIMITS: Required<PdpLimits> = {
  maxBodyBytes: 256 * 1024,
  maxEvaluations: 1000,
  maxContextValues: 4096,
  maxWorkMs: 2000,
};
/** A batch gives the event loop back this often, so health checks and other callers are answered meanwhile. */
const SLICE_MS = 5;
const MIN_TOKEN_LENGTH = 16;
/** A probe's answer is about now: no cache may answer for it later. */
const NO_STORE = { 'cache-control': 'no-store' };

interface Settings {
  policy: CedarPolicy;
  baseUrl: string;
  limits: Required<PdpLimits>;
  /** SHA-256 of each accepted token; undefined when tokens are not required. */
  tokens: Buffer[] | undefined;
  readiness: PdpReadiness;
}

export async function startPdpServer(options: PdpServerOptions): Promise<PdpServer> {
  // Absent options fail on their required `policies`.
  const {
    policies,
    port = 0,
    tls,
    tokens,
    log = () => {},
  } = checkObject('options', options) ?? ({} as Partial<PdpServerOptions>);
  if (typeof policies !== 'string') throw invalidOption('policies', 'a directory path', policies);
  if (checkCount('port', port, 0, { min: 0 }) > 65535) throw invalidOption('port', 'an integer 0-65535', port);
  const host = checkString('host', options.host) ?? '127.0.0.1';
  const watch = checkBoolean('watch', options.watch, true);
  const insecureOpen = checkBoolean('insecureOpen', options.insecureOpen, false);
  if (
    tokens !== undefined &&
    (!Array.isArray(tokens) ||
      tokens.length === 0 ||
      !tokens.every((x) => typeof x === 'string' && x.length >= MIN_TOKEN_LENGTH && /^[\x21-\x7e]+$/.test(x)))
  ) {
    throw invalidOption(
      'tokens',
      `a non-empty array of tokens of at least ${MIN_TOKEN_LENGTH} visible ASCII characters`,
      tokens,
    );
  }
  checkObject('tls', tls);
  const mtls = tls?.ca !== undefined;
  // A decision point tells whoever asks what is allowed and why: it is closed unless told otherwise.
  if (!mtls && tokens === undefined && !insecureOpen) {
    throw invalidOption('tokens', 'given (or tls.ca for mTLS, or insecureOpen: true to serve without authentication)');
  }
  const limits = checkLimits(options.limits);

  // The readiness tracker watches the directory itself (see pdp-readiness.ts).
  const policy = new CedarPolicy({ dir: policies, watch: false, name: 'pdp' });
  const readiness = new PdpReadiness(policy);
  policy.on('reload', (info) => log(`policies reloaded (version ${info.version}: ${info.sources.join(', ')})`));
  policy.on('error', (err) => {
    const detail = err.diagnostics.length > 0 ? err.diagnostics.map(formatDiagnostic).join('\n  ') : err.message;
    log(`policies NOT reloaded, keeping version ${policy.version}:\n  ${detail}`);
  });

  if (watch) readiness.watch(policies, (err) => log(`policies directory no longer watched: ${err.message}`));

  const settings: Settings = { policy, baseUrl: '', limits, tokens: tokens?.map(digest), readiness };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(settings, req, res).catch((err: unknown) => {
      log(`internal error: ${String(err)}`);
      if (!res.headersSent) problem(res, new Problem(500, 'server_error', 'internal error'));
      else res.destroy();
    });
  };
  const server =
    tls === undefined
      ? http.createServer(handler)
      : https.createServer(
          { key: tls.key, cert: tls.cert, ...(mtls && { ca: tls.ca, requestCert: true, rejectUnauthorized: true }) },
          handler,
        );
  // A caller's certificate is trusted for as long as it verifies, not for as long as its
  // keep-alive connection lasts: attach() re-checks callers at their certificate's expiry, on CRL
  // changes and periodically, and cuts those that no longer verify.
  const attachment = mtls
    ? (await import('../attach.js')).attach(server as https.Server, {
        ca: tls!.ca!,
        ...(tls!.crl === undefined ? {} : { crl: tls!.crl }),
      })
    : undefined;
  // Decision calls are small and frequent: keep connections open for reuse by callers' pools, but
  // bound how long one request may take to arrive.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  settings.baseUrl = `${tls === undefined ? 'http' : 'https'}://${hostPart}:${address.port}`;
  return {
    url: settings.baseUrl,
    policy,
    reload: () => readiness.reload(),
    async close() {
      readiness.close();
      policy.close();
      attachment?.detach();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function checkLimits(given: PdpLimits | undefined): Required<PdpLimits> {
  const limits = checkObject('limits', given);
  if (limits === undefined) return DEFAULT_LIMITS;
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as Array<keyof PdpLimits>)
    out[key] = checkCount(`limits.${key}`, limits[key], DEFAULT_LIMITS[key]);
  return out;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** RFC 6750 bearer check; digests have one length, so the comparison is constant-time. */
function authorized(settings: Settings, req: http.IncomingMessage): boolean {
  if (settings.tokens === undefined) return true;
  const header = req.headers.authorization;
  const m = typeof header === 'string' ? /^Bearer ([\x21-\x7e]+)$/i.exec(header) : null;
  if (m === null) return false;
  const given = digest(m[1]!);
  let ok = false;
  for (const accepted of settings.tokens) ok = timingSafeEqual(given, accepted) || ok;
  return ok;
}

async function handle(settings: Settings, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  // AuthZEN's HTTPS binding: echo the caller's X-Request-ID so it can correlate answers.
  const requestId = req.headers['x-request-id'];
  if (typeof requestId === 'string') res.setHeader('x-request-id', requestId);
  const path = (req.url ?? '/').split('?')[0];
  // Probes carry no credentials and learn nothing but liveness and readiness.
  if (path === HEALTHZ) return send(res, 200, { status: 'ok' }, NO_STORE);
  if (path === READYZ) {
    const reason = settings.readiness.notReady;
    if (reason === null) return send(res, 200, { status: 'ready' }, NO_STORE);
    return send(res, 503, { status: 'not_ready', reason }, NO_STORE);
  }
  try {
    if (!authorized(settings, req)) {
      throw new Problem(401, 'unauthorized', 'a bearer token is required', {
        headers: { 'www-authenticate': 'Bearer realm="continuous-tls pdp"' },
      });
    }
    if (path === METADATA) {
      if (req.method !== 'GET') throw new Problem(405, 'method_not_allowed', 'use GET', { headers: { allow: 'GET' } });
      return send(res, 200, {
        policy_decision_point: settings.baseUrl,
        access_evaluation_endpoint: settings.baseUrl + EVALUATION,
        access_evaluations_endpoint: settings.baseUrl + EVALUATIONS,
      });
    }
    if (path !== EVALUATION && path !== EVALUATIONS) throw new Problem(404, 'not_found', `no endpoint ${path}`);
    if (req.method !== 'POST') throw new Problem(405, 'method_not_allowed', 'use POST', { headers: { allow: 'POST' } });
    const body = await readJson(req, settings.limits.maxBodyBytes);
    if (path === EVALUATION || !Array.isArray(body['evaluations']) || body['evaluations'].length === 0) {
      // Access Evaluations API: without an evaluations array the batch endpoint answers like the single one.
      const request = parseRequest(body);
      return send(res, 200, decide(settings.policy, request, prepare(settings, request.context, 'context')));
    }
    const evaluations = await decideMany(settings, body, res);
    if (evaluations !== undefined) send(res, 200, { evaluations });
  } catch (err) {
    if (err instanceof Problem) return problem(res, err);
    if (err instanceof ContinuousTlsError) return problem(res, new Problem(503, 'evaluation_failed', err.message));
    throw err;
  }
}

function decide(
  policy: CedarPolicy,
  request: ParsedRequest,
  context: PreparedCedarContext,
): { decision: boolean; context: Record<string, unknown> } {
  let answer;
  try {
    answer = policy.authorize({
      principal: request.principal,
      action: request.action,
      resource: request.resource,
      context,
    });
  } catch (err) {
    // Cedar refused this request (an invalid extension value, an unknown entity type …).
    if (err instanceof ContinuousTlsError && err.code === 'ERR_CTLS_CEDAR_CONTEXT')
      throw badRequest(err.message, { code: err.code, path: (err as { path?: unknown }).path });
    throw err;
  }
  const verdict = answer.allow ? 'permit' : answer.policies.length > 0 ? 'forbid' : 'no permit';
  const errored = answer.errors.length > 0 ? ` (errored: ${answer.errors.join(', ')})` : '';
  return {
    decision: answer.allow,
    // The same reason text the embedded adapter gives, so logs read alike either way.
    context: {
      reason_admin: {
        en: `cedar: ${verdict}${answer.policies.length > 0 ? ' ' + answer.policies.join(', ') : ''}${errored}`,
      },
    },
  };
}

/** The context converted for Cedar; a value Cedar cannot hold exactly is the caller's error (400). */
function prepare(settings: Settings, context: unknown, path: string): PreparedCedarContext {
  try {
    return settings.policy.prepareContext(context ?? {}, { maxValues: settings.limits.maxContextValues });
  } catch (err) {
    if (err instanceof ContinuousTlsError && err.code === 'ERR_CTLS_CEDAR_CONTEXT') {
      const at = String((err as { path?: unknown }).path ?? 'context').replace(/^context/, path);
      throw badRequest(err.message.replace(/^context/, path), { code: err.code, path: at });
    }
    throw err;
  }
}

/**
 * Access Evaluations API: top-level subject/action/resource/context are defaults that each
 * evaluation may override. The default context is converted once; an evaluation that is invalid
 * on its own is denied alone, with the problem in its context. Resolves undefined when the caller
 * went away in the middle.
 */
async function decideMany(
  settings: Settings,
  body: Record<string, unknown>,
  res: http.ServerResponse,
): Promise<unknown[] | undefined> {
  const options = body['options'] as { evaluations_semantic?: unknown } | undefined;
  const semantic = options?.evaluations_semantic ?? 'execute_all';
  if (!SEMANTICS.includes(semantic as (typeof SEMANTICS)[number]))
    throw badRequest(`unsupported evaluations_semantic ${String(semantic)}`);
  const items = body['evaluations'] as unknown[];
  if (items.length > settings.limits.maxEvaluations) {
    throw new Problem(
      413,
      'too_many_evaluations',
      `more than ${settings.limits.maxEvaluations} evaluations in one request`,
    );
  }
  const defaults = pick(body);
  let shared: PreparedCedarContext | undefined;
  const out: unknown[] = [];
  let slice = performance.now();
  let worked = 0;
  for (let i = 0; i < items.length; i++) {
    if (worked > settings.limits.maxWorkMs) {
      // One caller's batch cannot take the endpoint's CPU beyond its budget: the rest is denied.
      out.push({
        decision: false,
        context: {
          error: {
            status: 429,
            title: 'work_budget_exceeded',
            detail: `evaluations past ${settings.limits.maxWorkMs} ms of work are not run`,
          },
        },
      });
      if (semantic === 'deny_on_first_deny') break;
      continue;
    }
    if (performance.now() - slice > SLICE_MS) {
      worked += performance.now() - slice;
      await yieldToLoop();
      if (res.destroyed) return undefined;
      slice = performance.now();
    }
    let result: { decision: boolean; context: Record<string, unknown> };
    try {
      const item = items[i];
      if (item === null || typeof item !== 'object' || Array.isArray(item))
        throw badRequest('each evaluation must be an object');
      const own = pick(item as Record<string, unknown>);
      const request = parseRequest({ ...defaults, ...own });
      const context =
        own['context'] !== undefined
          ? prepare(settings, own['context'], `evaluations[${i}].context`)
          : (shared ??= prepare(settings, defaults['context'], 'context'));
      result = decide(settings.policy, request, context);
    } catch (err) {
      if (!(err instanceof Problem)) throw err;
      result = {
        decision: false,
        context: { error: { status: err.status, title: err.title, detail: err.message, ...bodyExtra(err) } },
      };
    }
    out.push(result);
    if (semantic === 'deny_on_first_deny' && !result.decision) break;
    if (semantic === 'permit_on_first_permit' && result.decision) break;
  }
  return out;
}

function bodyExtra(p: Problem): Record<string, unknown> {
  const { headers: _h, close: _c, ...rest } = p.extra;
  return rest;
}

/** RFC 9457 problem details. */
function problem(res: http.ServerResponse, p: Problem): void {
  const headers = { ...(p.extra['headers'] as Record<string, string> | undefined) };
  // The rest of an oversized body is not read: the connection cannot be reused.
  if (p.extra['close'] === true) {
    headers['connection'] = 'close';
    res.once('finish', () => res.req.destroy());
  }
  send(
    res,
    p.status,
    { type: 'about:blank', title: p.title, status: p.status, detail: p.message, ...bodyExtra(p) },
    headers,
    'application/problem+json',
  );
}

function send(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  type = 'application/json',
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
