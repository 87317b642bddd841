/**
 * The receiver's requests to a transmitter (discovery, poll, verification): bounded in time and in
 * size, and every failure an ERR_CTLS_SSF_TRANSMITTER naming the step.
 */
import { ctlsError, type ContinuousTlsError } from '../../common/errors.js';

export interface TransmitterRequest {
  method?: 'GET' | 'POST';
  /** The Authorization header value. */
  authorization?: string | undefined;
  json?: unknown;
  timeout: number;
  maxBytes: number;
  signal?: AbortSignal | undefined;
}

export interface TransmitterAnswer {
  status: number;
  body: unknown;
}

/** Sends the request; resolves with the status and the parsed JSON body (undefined when empty). */
export async function requestTransmitter(
  what: string,
  url: string | URL,
  request: TransmitterRequest,
): Promise<TransmitterAnswer> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (request.authorization !== undefined) headers['authorization'] = request.authorization;
  if (request.json !== undefined) headers['content-type'] = 'application/json';
  const timeout = AbortSignal.timeout(request.timeout);
  const signal = request.signal === undefined ? timeout : AbortSignal.any([timeout, request.signal]);
  let text: string;
  let status: number;
  try {
    const response = await fetch(url, {
      method: request.method ?? 'GET',
      headers,
      body: request.json === undefined ? null : JSON.stringify(request.json),
      signal,
      redirect: 'error',
    });
    status = response.status;
    text = await readLimited(response, request.maxBytes);
  } catch (err) {
    if (err instanceof Error && (err as ContinuousTlsError).code === 'ERR_CTLS_SSF_TRANSMITTER') throw err;
    throw transmitterError(`${what}: the transmitter could not be reached`, err);
  }
  if (text.length === 0) return { status, body: undefined };
  try {
    return { status, body: JSON.parse(text) as unknown };
  } catch (err) {
    if (status >= 200 && status < 300) throw transmitterError(`${what}: the answer is not JSON`, err);
    return { status, body: undefined };
  }
}

export function transmitterError(message: string, cause?: unknown): ContinuousTlsError {
  return ctlsError('ERR_CTLS_SSF_TRANSMITTER', message, cause === undefined ? undefined : { cause });
}

async function readLimited(response: Response, maxBytes: number): Promise<string> {
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) throw transmitterError(`the transmitter's answer is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
