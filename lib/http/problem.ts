/**
 * RFC 9457 problem details: the body of every refusal the REST middleware answers (400, 401, 403,
 * 503, 500), built as a RequestRefusal the framework adapters send unchanged.
 */
import type { ServerResponse } from 'node:http';
import type { Decision } from '../common/types.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The response to send instead of running the handler. */
export interface RequestRefusal {
  allowed: false;
  status: number;
  headers: Record<string, string>;
  body: string;
  decision?: Decision;
}

/** `about:blank` means the title is the HTTP status phrase (RFC 9457 §4.2.1). */
export function problem(
  status: number,
  title: string,
  detail: string,
  headers: Record<string, string>,
  decision: Decision | undefined,
): RequestRefusal {
  const body = JSON.stringify({ type: 'about:blank', title, status, detail });
  const refusal: RequestRefusal = {
    allowed: false,
    status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store', ...headers },
    body,
  };
  if (decision) refusal.decision = decision;
  return refusal;
}

/** Headers that frame a body: set by a deny hook for its own answer, they would misframe the default one. */
export const FRAMING_HEADERS: readonly string[] = [
  'content-length',
  'transfer-encoding',
  'content-encoding',
  'content-range',
];

/** Sends the refusal, with any other header a deny hook set on `res` (`res.setHeader`). */
export function sendRefusal(res: ServerResponse, refusal: RequestRefusal): void {
  if (res.headersSent) return;
  for (const name of FRAMING_HEADERS) res.removeHeader(name);
  res.writeHead(refusal.status, { ...refusal.headers, 'content-length': Buffer.byteLength(refusal.body) });
  res.end(refusal.body);
}

/** The detail of a denial when the policy's reason is not exposed: says nothing about the policy. */
export const GENERIC_DENIAL = 'access denied';

/** The body of a failure of the middleware or of an onDeny hook: no detail, so no internals. */
export const INTERNAL_ERROR_BODY = JSON.stringify({ type: 'about:blank', title: 'Internal Server Error', status: 500 });

/** The error goes to the server's warnings, never to the client. */
export function warnInternalError(err: unknown): void {
  process.emitWarning(`Request authorization failed: ${String(err)}`, 'ContinuousTlsWarning');
}

/** A failure of the middleware itself: a bare 500 problem, or a cut connection once headers went out. */
export function sendInternalError(res: ServerResponse, err: unknown): void {
  warnInternalError(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res
    .writeHead(500, {
      'content-type': PROBLEM_CONTENT_TYPE,
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(INTERNAL_ERROR_BODY),
    })
    .end(INTERNAL_ERROR_BODY);
}
