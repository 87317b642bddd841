/**
 * What `continuous-tls inspect` does once its command line is parsed: one GET of the URL where an
 * application serves inspectHandler(), with the bearer token, and the answer checked to be a
 * report. Every failure is an InspectFetchError whose message says what went wrong and, where
 * there is one, what to do about it.
 */
import http from 'node:http';
import https from 'node:https';
import type { InspectReport } from '../authz/inspect.js';
import type { InspectCommandOptions } from './cli-args.js';

/** A report of 100k connections is tens of MB; an answer past this is not one. */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;

export class InspectFetchError extends Error {
  override name = 'InspectFetchError';
}

export async function fetchInspectReport(options: InspectCommandOptions): Promise<InspectReport> {
  const { status, body, challenge } = await get(options);
  if (status === 401) {
    if (options.token === undefined) {
      throw new InspectFetchError(
        'the endpoint requires a bearer token: pass --token or --token-file, or set CONTINUOUS_TLS_INSPECT_TOKEN',
      );
    }
    const invalid = /invalid_token/.test(challenge ?? '');
    throw new InspectFetchError(
      `the endpoint refused the token (401${invalid ? ', invalid_token' : ''}): check it against the server's`,
    );
  }
  if (status !== 200) throw new InspectFetchError(`the endpoint answered HTTP ${status}${detailOf(body)}`);
  let report: unknown;
  try {
    report = JSON.parse(body);
  } catch {
    throw new InspectFetchError('the answer is not JSON: is the URL the one inspectHandler() serves?');
  }
  if (!isReport(report)) {
    throw new InspectFetchError(
      'the answer is JSON but not an inspect report (no connections array): ' +
        'is the URL the one inspectHandler() serves?',
    );
  }
  return report;
}

function get(options: InspectCommandOptions): Promise<{ status: number; body: string; challenge?: string }> {
  const { url, token, ca, cert, key, timeoutMs } = options;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const tlsOptions =
      url.protocol === 'https:' ? { ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }) } : {};
    const request = (url.protocol === 'https:' ? https : http).request(
      url,
      { method: 'GET', headers, ...tlsOptions },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > MAX_ANSWER_BYTES) {
            request.destroy(new InspectFetchError(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const challenge = res.headers['www-authenticate'];
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            ...(challenge === undefined ? {} : { challenge }),
          });
        });
        res.on('error', (err) => reject(reachError(url, err)));
      },
    );
    // One deadline for connecting, the TLS handshake and the whole answer.
    const timer = setTimeout(
      () => request.destroy(new InspectFetchError(`no complete answer from ${url.origin} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    request.on('close', () => clearTimeout(timer));
    request.on('error', (err) => reject(reachError(url, err)));
    request.end();
  });
}

/** A transport failure, named by its code, with the usual remedy for TLS trust problems. */
function reachError(url: URL, err: Error): InspectFetchError {
  if (err instanceof InspectFetchError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const trust =
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY';
  const hint = trust ? ' (pass --ca with the CA that issued the server certificate)' : '';
  return new InspectFetchError(`could not reach ${url.origin}: ${code ?? err.message}${hint}`);
}

/** The problem detail an error answer carries, if it is one of inspectHandler's JSON errors. */
function detailOf(body: string): string {
  try {
    const detail = (JSON.parse(body) as { detail?: unknown }).detail;
    return typeof detail === 'string' ? ` (${detail.slice(0, 200)})` : '';
  } catch {
    return '';
  }
}

function isReport(value: unknown): value is InspectReport {
  return value !== null && typeof value === 'object' && Array.isArray((value as { connections?: unknown }).connections);
}
