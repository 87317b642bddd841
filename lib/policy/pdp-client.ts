/**
 * The HTTP transport shared by the external decision point adapters: one undici Pool per decision
 * point (keep-alive connections reused across decisions, optional mTLS), JSON in and out, a timeout
 * on every call, and errors with codes that say which side failed.
 */
import type * as Undici from 'undici';
import type { ConnectionOptions } from 'node:tls';
import { ContinuousTlsError, ctlsError, invalidOption } from '../common/errors.js';
import { checkCount, checkDuration, checkObject } from '../common/validate.js';
import { repeatedMemberName } from './json-duplicates.js';

export interface PdpTlsOptions {
  /** Trust anchors for the decision point's certificate (default: Node's bundled roots). */
  ca?: ConnectionOptions['ca'];
  /** Client certificate chain and key, for mTLS to the decision point. */
  cert?: ConnectionOptions['cert'];
  key?: ConnectionOptions['key'];
  servername?: string;
}

export interface PdpClientOptions {
  url: string;
  /** ms one call may take. */
  timeoutMs: number;
  tls?: PdpTlsOptions;
  /** Extra request headers, e.g. a bearer token for the decision point. */
  headers?: Record<string, string>;
  /** Pool size. Default 16. */
  connections?: number;
}

/** undici is loaded with the first decision point: an app without one should not pay ~50 ms for it. */
let undici: typeof Undici | undefined;

/** A decision point answer bigger than this is not a decision. */
const MAX_BODY_BYTES = 1 << 20;

export class PdpClient {
  readonly origin: string;
  readonly basePath: string;
  readonly timeoutMs: number;
  readonly #pool: Undici.Pool;
  readonly #headers: Record<string, string>;

  constructor(options: PdpClientOptions) {
    const { url, timeoutMs } = options;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalidOption('url', 'an absolute http(s) URL', url);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw invalidOption('url', 'an http: or https: URL', url);
    const tls = checkObject('tls', options.tls);
    if (tls !== undefined && parsed.protocol !== 'https:') throw invalidOption('tls', 'used with an https: url', url);
    if (checkDuration('timeoutMs', timeoutMs) === undefined)
      throw invalidOption('timeoutMs', 'a positive number of ms', timeoutMs);
    const connections = checkCount('connections', options.connections, 16);
    const headers = checkObject('headers', options.headers) ?? {};
    this.origin = parsed.origin;
    this.basePath = parsed.pathname.replace(/\/+$/, '');
    this.timeoutMs = timeoutMs;
    this.#headers = { ...headers, 'content-type': 'application/json', accept: 'application/json' };
    undici ??= require('undici') as typeof Undici;
    this.#pool = new undici.Pool(parsed.origin, {
      connections,
      keepAliveTimeout: 30_000,
      // Verification stays on: a decision point is only as trustworthy as the channel to it.
      connect: tls === undefined ? {} : { ...tls, rejectUnauthorized: true },
    });
  }

  /**
   * POSTs `body` as JSON to basePath + `path` and returns the parsed answer. Throws
   * ERR_CTLS_PDP_UNREACHABLE (connect/reset), ERR_CTLS_POLICY_TIMEOUT (own timeout),
   * ERR_CTLS_PDP_HTTP (non-2xx, with statusCode), ERR_CTLS_PDP_MALFORMED (not JSON / too big), or the
   * caller's abort reason when `signal` fired first.
   */
  async postJson(
    path: string,
    body: unknown,
    signal?: AbortSignal,
    headers?: Record<string, string>,
  ): Promise<unknown> {
    return this.postText(path, JSON.stringify(body), signal, headers);
  }

  /** postJson with a body already serialized (a batch built from requests serialized once). */
  async postText(path: string, body: string, signal?: AbortSignal, headers?: Record<string, string>): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    const where = `${this.origin}${this.basePath}${path}`;
    try {
      const res = await this.#pool.request({
        path: this.basePath + path,
        method: 'POST',
        headers: headers === undefined ? this.#headers : { ...this.#headers, ...headers },
        body,
        signal: combined,
      });
      const text = await readLimited(res.body, where);
      if (res.statusCode < 200 || res.statusCode > 299) {
        const detail = text.length > 0 ? `: ${text.slice(0, 200)}` : '';
        throw Object.assign(
          ctlsError('ERR_CTLS_PDP_HTTP', `Decision point ${where} answered HTTP ${res.statusCode}${detail}`),
          { statusCode: res.statusCode },
        );
      }
      let answer: unknown;
      try {
        answer = JSON.parse(text) as unknown;
      } catch {
        throw ctlsError(
          'ERR_CTLS_PDP_MALFORMED',
          `Decision point ${where} answered a body that is not JSON: ${text.slice(0, 80)}`,
        );
      }
      // JSON.parse keeps the last of two members of one name; what sits between us and the
      // decision point may read the first. An ambiguous answer decides nothing.
      const repeated = repeatedMemberName(text);
      if (repeated !== undefined)
        throw ctlsError(
          'ERR_CTLS_PDP_MALFORMED',
          `Decision point ${where} answered an object that names "${repeated.slice(0, 40)}" twice`,
        );
      return answer;
    } catch (err) {
      if (err instanceof ContinuousTlsError) throw err;
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted)
        throw ctlsError(
          'ERR_CTLS_POLICY_TIMEOUT',
          `Decision point ${where} did not answer within ${this.timeoutMs} ms`,
        );
      const code = (err as { code?: string }).code;
      throw ctlsError(
        'ERR_CTLS_PDP_UNREACHABLE',
        `Decision point ${where} could not be reached: ${code ?? (err as Error).message}`,
        { cause: err },
      );
    }
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

async function readLimited(body: AsyncIterable<Buffer> & { destroy(): void }, where: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      body.destroy();
      throw ctlsError('ERR_CTLS_PDP_MALFORMED', `Decision point ${where} answered more than ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
