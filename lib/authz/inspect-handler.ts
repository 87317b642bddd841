/**
 * inspectHandler(target, { token }): a node:http request handler that serves target.inspect() as
 * JSON to operators. The report names every peer and its decisions, so the handler is closed by
 * default: a bearer token (RFC 6750) is required unless `insecureOpen: true` says otherwise, and
 * tokens are compared as SHA-256 digests, which have one length, in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidOption } from '../common/errors.js';
import { checkBoolean, checkObject } from '../common/validate.js';
import type { InspectReport } from './inspect.js';

/** What the handler serves: a Server, an Attachment, or anything with the same inspect(). */
export interface InspectTarget {
  inspect(): InspectReport;
}

export interface InspectHandlerOptions {
  /** The bearer token(s) a caller may send, at least 16 visible ASCII characters each. */
  token?: string | string[];
  /** Serve without a token: anyone who reaches the handler sees every peer. Default false. */
  insecureOpen?: boolean;
}

export type InspectRequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

const MIN_TOKEN_LENGTH = 16;
const REALM = 'Bearer realm="continuous-tls inspect"';

export function inspectHandler(target: InspectTarget, options: InspectHandlerOptions): InspectRequestHandler {
  if (target === null || typeof target !== 'object' || typeof target.inspect !== 'function')
    throw invalidOption('target', 'a Server or an Attachment (an object with inspect())', target);
  const given = checkObject('options', options) ?? {};
  const insecureOpen = checkBoolean('insecureOpen', given.insecureOpen, false);
  const tokens = checkTokens(given.token);
  if (tokens === undefined && !insecureOpen)
    throw invalidOption('token', 'given (or insecureOpen: true to serve the report without authentication)');
  return (req, res) => {
    const refusal = tokens === undefined ? null : refuse(req, tokens);
    if (refusal !== null) {
      return send(res, 401, { error: 'unauthorized', detail: refusal.detail }, { 'www-authenticate': refusal.header });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, { error: 'method_not_allowed', detail: 'use GET' }, { allow: 'GET, HEAD' });
    let report: InspectReport;
    try {
      report = target.inspect();
    } catch {
      return send(res, 500, { error: 'inspect_failed', detail: 'the connections could not be inspected' });
    }
    send(res, 200, report);
  };
}

function checkTokens(token: unknown): Buffer[] | undefined {
  if (token === undefined) return undefined;
  const list = Array.isArray(token) ? (token as unknown[]) : [token];
  const valid = (x: unknown): boolean =>
    typeof x === 'string' && x.length >= MIN_TOKEN_LENGTH && /^[\x21-\x7e]+$/.test(x);
  if (list.length === 0 || !list.every(valid)) {
    throw invalidOption(
      'token',
      `a token of at least ${MIN_TOKEN_LENGTH} visible ASCII characters, or a non-empty array of them`,
      token,
    );
  }
  return (list as string[]).map(digest);
}

/** Why a request is refused (RFC 6750 section 3: invalid_token for a token given but not accepted), or null. */
function refuse(req: IncomingMessage, tokens: Buffer[]): { detail: string; header: string } | null {
  const header = req.headers.authorization;
  const m = typeof header === 'string' ? /^Bearer ([\x21-\x7e]+)$/i.exec(header) : null;
  if (m === null) return { detail: 'a bearer token is required', header: REALM };
  const given = digest(m[1]!);
  let ok = false;
  for (const accepted of tokens) ok = timingSafeEqual(given, accepted) || ok;
  return ok ? null : { detail: 'the bearer token is not accepted', header: `${REALM}, error="invalid_token"` };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    // The report is about now, and names peers: no cache may keep it.
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}
