/**
 * Reading one AuthZEN request of `continuous-tls pdp`: the body within its byte limit, as JSON whose
 * numbers reach Cedar exactly as written, in the shape of an Access Evaluation request. Every
 * refusal is a Problem (RFC 9457) the server answers.
 */
import type http from 'node:http';
import type { CedarRequest } from '../policy/cedar/policy.js';

/** An answer other than 200, as an RFC 9457 problem. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
  }
}

export const badRequest = (detail: string, extra?: Record<string, unknown>): Problem =>
  new Problem(400, 'invalid_request', detail, extra);

export interface ParsedRequest {
  principal: CedarRequest['principal'];
  action: CedarRequest['action'];
  resource: CedarRequest['resource'];
  context: unknown;
}

/** The request fields of an object: a batch's defaults, or one evaluation's own. */
export function pick(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['subject', 'action', 'resource', 'context']) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** An Access Evaluation request -> the Cedar request it stands for; 400 when it is not one. */
export function parseRequest(body: Record<string, unknown>): ParsedRequest {
  const subject = body['subject'];
  const action = body['action'];
  const resource = body['resource'];
  const context = body['context'];
  if (!isObject(subject) || typeof subject['type'] !== 'string' || typeof subject['id'] !== 'string')
    throw badRequest('subject must have string type and id');
  if (!isObject(action) || typeof action['name'] !== 'string') throw badRequest('action must have a string name');
  if (!isObject(resource) || typeof resource['type'] !== 'string' || typeof resource['id'] !== 'string')
    throw badRequest('resource must have string type and id');
  if (context !== undefined && !isObject(context)) throw badRequest('context must be an object');
  return {
    principal: { type: subject['type'], id: subject['id'] },
    action: { type: 'Action', id: action['name'] },
    resource: { type: resource['type'], id: resource['id'] },
    context,
  };
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/**
 * The first number literal of a JSON text that is not an integer as written but that JSON.parse
 * rounds to one (`1000000.00000000000000000001`), or undefined: such a fraction would reach
 * Cedar as an integer it never was.
 */
export function inexactNumber(text: string): string | undefined {
  const literal = /-?(?:0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?/y;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    if (c !== 0x2d && (c < 0x30 || c > 0x39)) continue;
    literal.lastIndex = i;
    const match = literal.exec(text);
    if (match === null) continue;
    i = literal.lastIndex - 1;
    // A fraction that survives parsing is refused later, with the path of its value; only one
    // that parsing rounds away has to be caught here.
    if (!Number.isInteger(Number(match[0]))) continue;
    const fraction = (match[1] ?? '').replace(/0+$/, '');
    const exponent = Number(match[2] ?? '0');
    // Integral exactly when the exponent shifts every non-zero fraction digit left of the point.
    if (fraction.length > 0 && !(exponent >= fraction.length)) return match[0];
    const whole = match[0].split(/[.eE]/)[0]!.replace('-', '');
    const trailingZeros = whole.length - whole.replace(/0+$/, '').length;
    if (fraction.length === 0 && exponent < 0 && /[1-9]/.test(whole) && -exponent > trailingZeros) return match[0];
  }
  return undefined;
}

export async function readJson(req: http.IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const tooLarge = (): Problem =>
    new Problem(413, 'body_too_large', `body larger than ${maxBytes} bytes`, { close: true });
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  let body: unknown;
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    body = JSON.parse(text);
  } catch {
    throw badRequest('body is not JSON');
  }
  const inexact = inexactNumber(text);
  if (inexact !== undefined)
    throw badRequest(
      `the number ${inexact.length > 40 ? `${inexact.slice(0, 40)}…` : inexact} has a fraction; ` +
        'Cedar has no such number, and rounding it would change the request',
    );
  if (!isObject(body)) throw badRequest('body must be a JSON object');
  return body;
}
