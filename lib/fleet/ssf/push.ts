/**
 * The RFC 8935 push endpoint: the transmitter POSTs one SET as `application/secevent+jwt`; the
 * answer is 202 with an empty body when the SET was accepted, a duplicate included (it was
 * delivered; refusing it would only make the transmitter send it again), and 400 with
 * `{ "err", "description" }` when it was refused, `err` one of the RFC 8935 §2.4 codes. A failure of
 * the HTTP exchange itself gets the HTTP status that names it (with `err: invalid_request`): 405 for
 * another method, 413 for an oversized body, 415 for another content type, 408 for a body that does
 * not arrive in time. Missing or wrong transmitter credentials get 401 with authentication_failed
 * (RFC 9110 §15.5.2); a SET this side cannot apply now (the fleet unreachable) gets 503, no code:
 * the SET was fine and the transmitter should retry.
 *
 * The body is read only after the transmitter is authenticated, is capped in size and in time, and
 * a refused request closes its connection, so neither a slow nor a huge body can tie the process up.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ContinuousTlsError } from '../../common/errors.js';
import type { SsfErrorCode } from './set-verify.js';
import { timerDelay } from '../../common/timers.js';

/** What the endpoint needs from its receiver. */
export interface PushCore {
  receive(token: string, via: 'push'): Promise<unknown>;
  /** Resolves true when the request's Authorization header is acceptable (or none is configured). */
  authenticate(req: IncomingMessage): Promise<boolean>;
  readonly maxBodyBytes: number;
  readonly bodyTimeout: number;
}

export interface PushAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const SET_MEDIA_TYPE = 'application/secevent+jwt';

/** Answers one push request. `body` is a body a framework has already read (Express with a body parser). */
export async function answerPush(core: PushCore, req: IncomingMessage, body?: Buffer | string): Promise<PushAnswer> {
  if (req.method !== 'POST') return { status: 405, headers: { allow: 'POST', connection: 'close' }, body: '' };
  if (!(await core.authenticate(req))) {
    return refuse(401, 'authentication_failed', 'the transmitter could not be authenticated', {
      'www-authenticate': 'Bearer',
    });
  }
  if (mediaType(req.headers['content-type']) !== SET_MEDIA_TYPE)
    return refuse(415, 'invalid_request', `the body must be ${SET_MEDIA_TYPE}`);
  let token: string;
  if (body !== undefined) {
    if (Buffer.byteLength(body) > core.maxBodyBytes) return tooLarge(core);
    token = body.toString().trim();
  } else {
    const read = await readBody(req, core.maxBodyBytes, core.bodyTimeout);
    if (read === 'too-large') return tooLarge(core);
    if (read === 'timeout') return refuse(408, 'invalid_request', 'the body did not arrive in time');
    if (read === 'aborted') return { status: 400, headers: { connection: 'close' }, body: '' };
    token = read.toString('utf8').trim();
  }
  try {
    await core.receive(token, 'push');
    return { status: 202, headers: {}, body: '' };
  } catch (err) {
    const { code, ssfError, description } = err as ContinuousTlsError & {
      ssfError?: SsfErrorCode;
      description?: string;
    };
    if (code === 'ERR_CTLS_SET_INVALID' && ssfError !== undefined)
      return refuse(400, ssfError, description ?? 'invalid SET', {}, false);
    return {
      status: 503,
      headers: { 'content-type': 'application/json', 'retry-after': '5' },
      body: JSON.stringify({ description: 'the SET cannot be applied now; retry later' }),
    };
  }
}

/** Writes an answer on a node:http response. */
export function sendPushAnswer(res: ServerResponse, answer: PushAnswer): void {
  if (res.headersSent) return;
  res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}

/** The node:http request handler. */
export function pushHandler(core: PushCore): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    answerPush(core, req).then(
      (answer) => sendPushAnswer(res, answer),
      () => sendPushAnswer(res, { status: 500, headers: { connection: 'close' }, body: '' }),
    );
  };
}

function refuse(
  status: number,
  err: SsfErrorCode,
  description: string,
  headers: Record<string, string> = {},
  close = true,
): PushAnswer {
  return {
    status,
    headers: { ...headers, 'content-type': 'application/json', ...(close ? { connection: 'close' } : {}) },
    body: JSON.stringify({ err, description }),
  };
}

function tooLarge(core: PushCore): PushAnswer {
  return refuse(413, 'invalid_request', `the SET is larger than ${core.maxBodyBytes} bytes`);
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/** The request body, or why there is none: over `maxBytes`, not complete within `timeout`, aborted. */
function readBody(
  req: IncomingMessage,
  maxBytes: number,
  timeout: number,
): Promise<Buffer | 'too-large' | 'timeout' | 'aborted'> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve('too-large');
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: Buffer | 'too-large' | 'timeout' | 'aborted'): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('aborted', onAbort);
      // Whatever is left is not read: the answer closes the connection.
      if (typeof result === 'string') req.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) finish('too-large');
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(Buffer.concat(chunks));
    const onAbort = (): void => finish('aborted');
    const timer = setTimeout(() => finish('timeout'), timerDelay(timeout));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('aborted', onAbort);
  });
}
