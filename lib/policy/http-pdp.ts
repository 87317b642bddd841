/**
 * External decision points over HTTP: OpenID AuthZEN Authorization API 1.0 and OPA's Data API.
 * Both fail closed through evaluatePolicy: every transport or format problem throws a coded error
 * (pdp-client.ts), which evaluatePolicy turns into a denial.
 */
import { ctlsError, invalidOption } from '../common/errors.js';
import { checkCount, checkFunction, checkObject, checkString } from '../common/validate.js';
import type { AuthorizationInput, DecisionLike, PolicyAdapter } from '../common/types.js';
import { DEFAULT_POLICY_TIMEOUT_MS } from './evaluate.js';
import { exactJson } from './exact-json.js';
import { actionName, contextFacts, jsonInput, resourceId, subjectId } from './facts.js';
import { PdpClient, type PdpTlsOptions } from './pdp-client.js';

export type { PdpTlsOptions } from './pdp-client.js';

/** AuthZEN 1.0 information model: one access request (subject, action, resource, context). */
export interface AuthzenRequest {
  subject: { type: string; id: string; properties?: Record<string, unknown> };
  action: { name: string; properties?: Record<string, unknown> };
  resource: { type: string; id: string; properties?: Record<string, unknown> };
  context?: Record<string, unknown>;
}

/** AuthZEN 1.0 Access Evaluation response: `decision` is required, `context` optional (reasons …). */
export interface AuthzenResponse {
  decision: boolean;
  context?: Record<string, unknown>;
}

export interface AuthzenMapping {
  subject?(input: AuthorizationInput): AuthzenRequest['subject'];
  action?(input: AuthorizationInput): AuthzenRequest['action'];
  resource?(input: AuthorizationInput): AuthzenRequest['resource'];
  context?(input: AuthorizationInput): Record<string, unknown>;
}

interface CommonOptions {
  /** Base URL of the decision point; a path prefix is kept (https://pdp.example/authz). */
  url: string;
  /** Per call, default 200 ms. The caller's evaluatePolicy timeout also cancels the call. */
  timeoutMs?: number;
  /** mTLS (and a private CA) for the connection to the decision point. */
  tls?: PdpTlsOptions;
  headers?: Record<string, string>;
  connections?: number;
  name?: string;
}

export interface AuthzenPolicyOptions extends CommonOptions {
  mapping?: AuthzenMapping;
  /**
   * Coalesce the decisions asked within one turn of the event loop into Access Evaluations calls
   * (AuthZEN Access Evaluations API), e.g. when a CRL update re-checks every live connection.
   * `maxSize` caps the evaluations per call (default 64), `maxBytes` the serialized evaluations per
   * call (default 192 KiB, under the 256 KiB body limit of `continuous-tls pdp`). A request larger
   * than maxBytes on its own goes alone to the single endpoint, and when a batch call is refused
   * (a 4xx other than 429, or a malformed answer) its requests are retried one by one: one caller's
   * oversized or invalid request is never the denial of the others. A 429 or 5xx denies the whole
   * batch: a decision point that says it is overloaded is not sent each request again. Default false.
   */
  batch?: boolean | { maxSize?: number; maxBytes?: number };
}

export interface OpaPolicyOptions extends CommonOptions {
  /** The rule to query, e.g. 'authz/allow' -> POST /v1/data/authz/allow. Default 'authz/allow'. */
  path?: string;
  /** Build OPA's `input` yourself; default jsonInput(input) from facts.ts (no raw credentials). */
  input?(input: AuthorizationInput): unknown;
}

export interface HttpPolicy extends PolicyAdapter {
  readonly name: string;
  close(): Promise<void>;
}

const EVALUATION = '/access/v1/evaluation';
const EVALUATIONS = '/access/v1/evaluations';
const DEFAULT_BATCH_SIZE = 64;
/** Serialized evaluations per batch call by default: under the pdp's 256 KiB body limit with room to spare. */
const DEFAULT_BATCH_BYTES = 192 * 1024;

/**
 * The default AuthZEN mapping mirrors Cedar's (facts.ts), so that a request decided by the
 * `continuous-tls pdp` endpoint reaches Cedar exactly as it would embedded:
 * subject {type 'User', id subjectId}, action {name actionName}, resource {type 'Resource', id
 * resourceId}, context contextFacts (which carries certificate facts and token claims).
 */
export function authzenRequest(input: AuthorizationInput, mapping: AuthzenMapping = {}): AuthzenRequest {
  return {
    subject: mapping.subject ? mapping.subject(input) : { type: 'User', id: subjectId(input) },
    action: mapping.action ? mapping.action(input) : { name: actionName(input) },
    resource: mapping.resource ? mapping.resource(input) : { type: 'Resource', id: resourceId(input) },
    context: mapping.context ? mapping.context(input) : contextFacts(input),
  };
}

export function authzenPolicy(options: AuthzenPolicyOptions): HttpPolicy {
  checkCommon(options);
  const mapping = checkObject('mapping', options.mapping) ?? {};
  const { batch = false } = options;
  if (typeof batch !== 'boolean' && (batch === null || typeof batch !== 'object'))
    throw invalidOption('batch', 'a boolean or { maxSize, maxBytes }', batch);
  const sizes = typeof batch === 'object' ? batch : {};
  const maxSize = checkCount('batch.maxSize', sizes.maxSize, DEFAULT_BATCH_SIZE);
  const maxBytes = checkCount('batch.maxBytes', sizes.maxBytes, DEFAULT_BATCH_BYTES);
  const client = clientOf(options);
  const where = `${client.origin}${client.basePath}`;
  const single = async (request: AuthzenRequest, signal?: AbortSignal): Promise<DecisionLike> =>
    toDecision(await client.postJson(EVALUATION, request, signal), where);
  const batcher = batch === false ? undefined : new Batcher(client, maxSize, maxBytes, where);
  return {
    name: options.name ?? `authzen(${where})`,
    evaluate(input: AuthorizationInput, signal?: AbortSignal) {
      // Sent exactly or not at all (exact-json.ts); Dates as epoch ms, as the embedded Cedar reads them.
      const request = exactJson(authzenRequest(input, mapping), 'request', 'epoch-ms') as AuthzenRequest;
      return batcher ? batcher.ask(request, signal) : single(request, signal);
    },
    close: () => client.close(),
  };
}

export function opaPolicy(options: OpaPolicyOptions): HttpPolicy {
  checkCommon(options);
  const { path = 'authz/allow' } = options;
  if (typeof path !== 'string' || !/^[\w-][\w.-]*(\/[\w-][\w.-]*)*$/.test(path.replace(/^\/+|\/+$/g, ''))) {
    throw invalidOption('path', "a rule path like 'authz/allow'", path);
  }
  const buildInput = checkFunction<(input: AuthorizationInput) => unknown>('input', options.input) ?? jsonInput;
  const rule = path.replace(/^\/+|\/+$/g, '');
  const client = clientOf(options);
  const where = `${client.origin}${client.basePath}/v1/data/${rule}`;
  return {
    name: options.name ?? `opa(${where})`,
    async evaluate(input: AuthorizationInput, signal?: AbortSignal) {
      // Sent exactly or not at all (exact-json.ts); Dates as ISO 8601 text, JSON's own form.
      const body = { input: exactJson(buildInput(input), 'input', 'iso') };
      const answer = await client.postJson(`/v1/data/${rule}`, body, signal);
      return opaDecision(answer, where, rule);
    },
    close: () => client.close(),
  };
}

/** AuthZEN evaluation response -> decision. A `reason_admin` (or plain `reason`) in context becomes the reason. */
export function toDecision(answer: unknown, where: string): DecisionLike {
  if (
    answer === null ||
    typeof answer !== 'object' ||
    typeof (answer as { decision?: unknown }).decision !== 'boolean'
  ) {
    throw ctlsError('ERR_CTLS_PDP_MALFORMED', `Decision point ${where} answered without a boolean "decision"`);
  }
  const { decision, context } = answer as AuthzenResponse;
  const out: DecisionLike = {
    allow: decision,
    reason: authzenReason(context) ?? `authzen: ${decision ? 'permit' : 'deny'}`,
  };
  if (context !== null && typeof context === 'object' && !Array.isArray(context)) out.obligations = context;
  return out;
}

function authzenReason(context: Record<string, unknown> | undefined): string | undefined {
  if (context === null || typeof context !== 'object') return undefined;
  const admin = context['reason_admin'];
  if (admin !== null && typeof admin === 'object') {
    const text = (admin as Record<string, unknown>)['en'] ?? Object.values(admin)[0];
    if (typeof text === 'string') return text;
  }
  return typeof context['reason'] === 'string' ? context['reason'] : undefined;
}

/** OPA Data API: `result` is the rule's value, absent when the rule is undefined for this input. */
function opaDecision(answer: unknown, where: string, rule: string): DecisionLike {
  if (answer === null || typeof answer !== 'object' || !('result' in answer)) {
    throw ctlsError(
      'ERR_CTLS_PDP_MALFORMED',
      `OPA ${where} answered no "result": rule ${rule} is undefined for this input (missing default?)`,
    );
  }
  const result = (answer as { result: unknown }).result;
  if (typeof result === 'boolean') return { allow: result, reason: `opa: ${rule} ${result ? 'allow' : 'deny'}` };
  if (result !== null && typeof result === 'object' && typeof (result as { allow?: unknown }).allow === 'boolean') {
    const r = result as { allow: boolean; reason?: unknown; ttlMs?: unknown; obligations?: unknown };
    const out: DecisionLike = {
      allow: r.allow,
      reason: typeof r.reason === 'string' ? r.reason : `opa: ${rule} ${r.allow ? 'allow' : 'deny'}`,
    };
    if (typeof r.ttlMs === 'number') out.ttlMs = r.ttlMs;
    if (r.obligations !== null && typeof r.obligations === 'object')
      out.obligations = r.obligations as Record<string, unknown>;
    return out;
  }
  throw ctlsError('ERR_CTLS_PDP_MALFORMED', `OPA ${where} answered a result that is neither a boolean nor { allow }`);
}

interface Pending {
  /** The request serialized once, for the batch body or a call of its own. */
  json: string;
  resolve(d: DecisionLike): void;
  reject(err: unknown): void;
}

/**
 * Micro-batching for the AuthZEN Access Evaluations API: requests asked in the same event-loop turn
 * share calls of at most maxSize requests and maxBytes of serialized requests. Each caller's own
 * signal still settles its promise at once; the calls themselves run under the adapter's timeout.
 */
class Batcher {
  #queue: Pending[] = [];
  #queuedBytes = 0;
  #scheduled = false;
  readonly #client: PdpClient;
  readonly #maxSize: number;
  readonly #maxBytes: number;
  readonly #where: string;

  constructor(client: PdpClient, maxSize: number, maxBytes: number, where: string) {
    this.#client = client;
    this.#maxSize = maxSize;
    this.#maxBytes = maxBytes;
    this.#where = where;
  }

  ask(request: AuthzenRequest, signal?: AbortSignal): Promise<DecisionLike> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      let json: string;
      try {
        json = JSON.stringify(request);
      } catch (err) {
        return reject(
          ctlsError(
            'ERR_CTLS_POLICY_FAILED',
            `The AuthZEN request could not be serialized: ${(err as Error).message}`,
            { cause: err },
          ),
        );
      }
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      this.#queue.push({ json, resolve, reject });
      this.#queuedBytes += Buffer.byteLength(json) + 1;
      if (this.#queue.length >= this.#maxSize || this.#queuedBytes >= this.#maxBytes) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const items = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const chunk of this.#chunks(items)) {
      void this.#send(chunk).catch((err: unknown) => {
        for (const item of chunk) item.reject(err);
      });
    }
  }

  /** Consecutive runs of at most maxSize items and maxBytes; an item over maxBytes is a run of its own. */
  #chunks(items: Pending[]): Pending[][] {
    const chunks: Pending[][] = [];
    let current: Pending[] = [];
    let bytes = 0;
    for (const item of items) {
      const size = Buffer.byteLength(item.json) + 1;
      if (current.length > 0 && (current.length >= this.#maxSize || bytes + size > this.#maxBytes)) {
        chunks.push(current);
        current = [];
        bytes = 0;
      }
      current.push(item);
      bytes += size;
    }
    if (current.length > 0) chunks.push(current);
    return chunks;
  }

  async #send(items: Pending[]): Promise<void> {
    if (items.length === 1) return this.#sendOne(items[0]!);
    let evaluations: unknown;
    try {
      const answer = await this.#client.postText(
        EVALUATIONS,
        `{"evaluations":[${items.map((i) => i.json).join(',')}]}`,
      );
      evaluations = (answer as { evaluations?: unknown } | null)?.evaluations;
      if (!Array.isArray(evaluations) || evaluations.length !== items.length) {
        throw ctlsError(
          'ERR_CTLS_PDP_MALFORMED',
          `Decision point ${this.#where} answered ${items.length} evaluations with something else`,
        );
      }
    } catch (err) {
      // A refusal may be one request's fault (too large, invalid): each gets its own answer. A
      // timeout, an unreachable decision point, or one that says it is overloaded or failing
      // (429, 5xx) would only fail again, for all of them, at many times the load.
      const code = (err as { code?: unknown }).code;
      const status = (err as { statusCode?: unknown }).statusCode;
      if (code !== 'ERR_CTLS_PDP_HTTP' && code !== 'ERR_CTLS_PDP_MALFORMED') throw err;
      if (code === 'ERR_CTLS_PDP_HTTP' && (typeof status !== 'number' || status === 429 || status >= 500)) throw err;
      await Promise.all(items.map((item) => this.#sendOne(item).catch((e: unknown) => item.reject(e))));
      return;
    }
    items.forEach((item, i) => {
      try {
        item.resolve(toDecision((evaluations as unknown[])[i], this.#where));
      } catch (err) {
        item.reject(err);
      }
    });
  }

  async #sendOne(item: Pending): Promise<void> {
    item.resolve(toDecision(await this.#client.postText(EVALUATION, item.json), this.#where));
  }
}

function checkCommon(o: CommonOptions): void {
  if (checkObject('options', o) === undefined) throw invalidOption('options', 'an object', o);
  if (checkString('url', o.url) === undefined) throw invalidOption('url', 'a string', o.url);
  checkString('name', o.name);
}

function clientOf(o: CommonOptions): PdpClient {
  const opts: ConstructorParameters<typeof PdpClient>[0] = {
    url: o.url,
    timeoutMs: o.timeoutMs ?? DEFAULT_POLICY_TIMEOUT_MS,
  };
  if (o.tls !== undefined) opts.tls = o.tls;
  if (o.headers !== undefined) opts.headers = o.headers;
  if (o.connections !== undefined) opts.connections = o.connections;
  return new PdpClient(opts);
}
