/**
 * `continuous-tls pdp`: a stateless OpenID AuthZEN 1.0 decision endpoint backed by the embedded
 * Cedar adapter, reloading its policies directory while it runs. Stateless means any number of
 * them can sit behind a load balancer and API servers can point authzenPolicy() at any of them.
 *
 * Endpoints (AuthZEN Authorization API 1.0):
 * - POST /access/v1/evaluation   Access Evaluation API: {subject, action, resource, context} -> {decision, context}
 * - POST /access/v1/evaluations  Access Evaluations API: defaults + `evaluations` array -> {evaluations: [...]}
 * - GET  /.well-known/authzen-configuration  PDP metadata
 * An AuthZEN request maps to Cedar as principal = <subject.type>::"<subject.id>", action =
 * Action::"<action.name>", resource = <resource.type>::"<resource.id>", context = context, the
 * inverse of the default client mapping in policy/http-pdp.ts, so embedded and remote agree.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { ContinuousTlsError, invalidOption } from './errors.js';
import { CedarPolicy, type CedarRequest } from './policy/cedar.js';
import { formatDiagnostic } from './policy/cedar-values.js';
import type { AuthzenRequest } from './policy/http-pdp.js';

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
  tls?: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer };
  /** Where reloads and policy errors are reported. Default: nowhere. */
  log?: (line: string) => void;
}

export interface PdpServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly policy: CedarPolicy;
  close(): Promise<void>;
}

const EVALUATION = '/access/v1/evaluation';
const EVALUATIONS = '/access/v1/evaluations';
const METADATA = '/.well-known/authzen-configuration';
const MAX_BODY_BYTES = 256 * 1024;
const SEMANTICS = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const;

class BadRequest extends Error {}

export async function startPdpServer(options: PdpServerOptions): Promise<PdpServer> {
  if (options === null || typeof options !== 'object') throw invalidOption('options', 'an object', options);
  const { policies, port = 0, host = '127.0.0.1', watch = true, tls, log = () => {} } = options;
  if (typeof policies !== 'string') throw invalidOption('policies', 'a directory path', policies);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalidOption('port', 'an integer 0-65535', port);
  if (typeof host !== 'string') throw invalidOption('host', 'a string', host);

  const policy = new CedarPolicy({ dir: policies, watch, name: 'pdp' });
  policy.on('reload', (info) => log(`policies reloaded (version ${info.version}: ${info.sources.join(', ')})`));
  policy.on('error', (err) => {
    const detail = err.diagnostics.length > 0 ? err.diagnostics.map(formatDiagnostic).join('\n  ') : err.message;
    log(`policies NOT reloaded, keeping version ${policy.version}:\n  ${detail}`);
  });

  let baseUrl = '';
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(policy, baseUrl, req, res).catch((err: unknown) => {
      log(`internal error: ${String(err)}`);
      if (!res.headersSent) send(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  };
  const server = tls === undefined
    ? http.createServer(handler)
    : https.createServer({ key: tls.key, cert: tls.cert, ...(tls.ca !== undefined && { ca: tls.ca, requestCert: true, rejectUnauthorized: true }) }, handler);
  // Decision calls are small and frequent: keep connections open for reuse by callers' pools.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  baseUrl = `${tls === undefined ? 'http' : 'https'}://${hostPart}:${address.port}`;
  return {
    url: baseUrl,
    policy,
    async close() {
      policy.close();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function handle(policy: CedarPolicy, baseUrl: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  // AuthZEN's HTTPS binding: echo the caller's X-Request-ID so it can correlate answers.
  const requestId = req.headers['x-request-id'];
  if (typeof requestId === 'string') res.setHeader('x-request-id', requestId);
  const path = (req.url ?? '/').split('?')[0];
  if (path === METADATA) {
    if (req.method !== 'GET') return send(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' });
    return send(res, 200, {
      policy_decision_point: baseUrl,
      access_evaluation_endpoint: baseUrl + EVALUATION,
      access_evaluations_endpoint: baseUrl + EVALUATIONS,
    });
  }
  if (path !== EVALUATION && path !== EVALUATIONS) return send(res, 404, { error: 'not_found' });
  if (req.method !== 'POST') return send(res, 405, { error: 'method_not_allowed' }, { allow: 'POST' });
  try {
    const body = await readJson(req);
    if (path === EVALUATION || !Array.isArray(body['evaluations']) || body['evaluations'].length === 0) {
      // Access Evaluations API: without an evaluations array the batch endpoint answers like the single one.
      return send(res, 200, decide(policy, parseRequest(body)));
    }
    return send(res, 200, { evaluations: decideMany(policy, body) });
  } catch (err) {
    if (err instanceof BadRequest) return send(res, 400, { error: 'invalid_request', error_description: err.message });
    if (err instanceof ContinuousTlsError) return send(res, 500, { error: 'evaluation_failed', error_description: err.message });
    throw err;
  }
}

function decide(policy: CedarPolicy, request: AuthzenRequest): { decision: boolean; context: Record<string, unknown> } {
  const cedarRequest: CedarRequest = {
    principal: { type: request.subject.type, id: request.subject.id },
    action: { type: 'Action', id: request.action.name },
    resource: { type: request.resource.type, id: request.resource.id },
    context: request.context ?? {},
  };
  const answer = policy.authorize(cedarRequest);
  const verdict = answer.allow ? 'permit' : answer.policies.length > 0 ? 'forbid' : 'no permit';
  const errored = answer.errors.length > 0 ? ` (errored: ${answer.errors.join(', ')})` : '';
  return {
    decision: answer.allow,
    // The same reason text the embedded adapter gives, so logs read alike either way.
    context: { reason_admin: { en: `cedar: ${verdict}${answer.policies.length > 0 ? ' ' + answer.policies.join(', ') : ''}${errored}` } },
  };
}

/** Access Evaluations API: top-level subject/action/resource/context are defaults that each evaluation may override. */
function decideMany(policy: CedarPolicy, body: Record<string, unknown>): unknown[] {
  const options = body['options'] as { evaluations_semantic?: unknown } | undefined;
  const semantic = options?.evaluations_semantic ?? 'execute_all';
  if (!SEMANTICS.includes(semantic as (typeof SEMANTICS)[number])) throw new BadRequest(`unsupported evaluations_semantic ${String(semantic)}`);
  const out: unknown[] = [];
  for (const item of body['evaluations'] as unknown[]) {
    if (item === null || typeof item !== 'object') throw new BadRequest('each evaluation must be an object');
    const merged = { ...pick(body), ...pick(item as Record<string, unknown>) };
    const result = decide(policy, parseRequest(merged));
    out.push(result);
    if (semantic === 'deny_on_first_deny' && !result.decision) break;
    if (semantic === 'permit_on_first_permit' && result.decision) break;
  }
  return out;
}

function pick(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['subject', 'action', 'resource', 'context']) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function parseRequest(body: Record<string, unknown>): AuthzenRequest {
  const subject = body['subject'] as Record<string, unknown> | undefined;
  const action = body['action'] as Record<string, unknown> | undefined;
  const resource = body['resource'] as Record<string, unknown> | undefined;
  const context = body['context'];
  if (!isObject(subject) || typeof subject['type'] !== 'string' || typeof subject['id'] !== 'string') throw new BadRequest('subject must have string type and id');
  if (!isObject(action) || typeof action['name'] !== 'string') throw new BadRequest('action must have a string name');
  if (!isObject(resource) || typeof resource['type'] !== 'string' || typeof resource['id'] !== 'string') throw new BadRequest('resource must have string type and id');
  if (context !== undefined && !isObject(context)) throw new BadRequest('context must be an object');
  const request: AuthzenRequest = {
    subject: { type: subject['type'], id: subject['id'] },
    action: { name: action['name'] },
    resource: { type: resource['type'], id: resource['id'] },
  };
  if (context !== undefined) request.context = context;
  return request;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BadRequest(`body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('body is not JSON');
  }
  if (!isObject(body)) throw new BadRequest('body must be a JSON object');
  return body;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const USAGE = `Usage: continuous-tls pdp --policies <dir> [--port N] [--host H] [--key F --cert F [--ca F]]

A stateless OpenID AuthZEN decision endpoint over the Cedar policies in <dir> (every *.cedar file,
optional entities.json and schema.cedarschema). Reloads the directory when it changes; an invalid
change is reported and the previous policies stay in force. --key/--cert serve HTTPS; --ca also
requires client certificates issued by that CA.
`;

/** The `pdp` subcommand. Resolves with the exit code once SIGINT/SIGTERM stopped the server. */
export async function runPdpCommand(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        policies: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' },
        key: { type: 'string' }, cert: { type: 'string' }, ca: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values['help']) {
    process.stdout.write(USAGE);
    return 0;
  }
  const port = values['port'] === undefined ? 0 : Number(values['port']);
  if (typeof values['policies'] !== 'string' || !Number.isInteger(port) || (values['key'] === undefined) !== (values['cert'] === undefined)) {
    process.stderr.write(USAGE);
    return 2;
  }
  const options: PdpServerOptions = { policies: values['policies'], port, log: (line) => process.stderr.write(`pdp: ${line}\n`) };
  if (typeof values['host'] === 'string') options.host = values['host'];
  if (typeof values['key'] === 'string' && typeof values['cert'] === 'string') {
    options.tls = { key: readFileSync(values['key']), cert: readFileSync(values['cert']) };
    if (typeof values['ca'] === 'string') options.tls.ca = readFileSync(values['ca']);
  }
  let server: PdpServer;
  try {
    server = await startPdpServer(options);
  } catch (err) {
    process.stderr.write(`pdp: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`continuous-tls pdp listening on ${server.url} (${server.policy.policyIds.length} policies)\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
