/**
 * The RFC 8936 poll client: asks the transmitter for SETs, acknowledges each one it accepted
 * (a duplicate included) in the next request's `ack`, reports each one it refused in `setErrs`
 * with its RFC 8935 code, and leaves unacknowledged a SET it could not apply now, so the
 * transmitter delivers it again. A failed request is retried with backoff, keeping the
 * acknowledgements it carried; stop() sends the acknowledgements still owed before it resolves.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContinuousTlsError } from '../../common/errors.js';
import { checkCount, checkDuration, checkFunction, checkString } from '../../common/validate.js';
import { invalidOption } from '../../common/errors.js';
import { isObject, requestTransmitter, transmitterError } from './fetch-json.js';
import type { SsfErrorCode } from './set-verify.js';
import { timerDelay } from '../../common/timers.js';

export interface SsfPollOptions {
  /** The transmitter's poll endpoint (the stream's `delivery.endpoint_url`). */
  url: string | URL;
  /** The Authorization header value, or a function that returns it (a fresh token per request). */
  auth?: string | (() => string | Promise<string>);
  /** Wait between polls that returned nothing (ms, default 5000). */
  interval?: number;
  /** Most SETs asked for per request (default 25). */
  maxEvents?: number;
  /** Bound on one request (ms, default 30 000). */
  timeout?: number;
  /** Longest wait between retries of a failing transmitter (ms, default 60 000). */
  maxBackoff?: number;
}

export interface SsfPollHandle {
  /** Stops polling; resolves once the last acknowledgements were sent (or could not be). */
  stop(): Promise<void>;
  readonly running: boolean;
}

/** What the poll loop needs from its receiver. */
export interface PollCore {
  receive(token: string, via: 'poll'): Promise<unknown>;
  report(err: Error): void;
}

interface SetError {
  err: SsfErrorCode;
  description: string;
}

const MAX_SET_BYTES = 64 * 1024;

export function startPolling(core: PollCore, options: SsfPollOptions): SsfPollHandle {
  return new PollLoop(core, options);
}

class PollLoop implements SsfPollHandle {
  readonly #core: PollCore;
  readonly #url: URL;
  readonly #auth: string | (() => string | Promise<string>) | undefined;
  readonly #interval: number;
  readonly #maxEvents: number;
  readonly #timeout: number;
  readonly #maxBackoff: number;
  readonly #stopper = new AbortController();
  readonly #done: Promise<void>;
  #running = true;
  /** Owed to the transmitter with the next request. */
  #ack: string[] = [];
  #setErrs: Record<string, SetError> = {};

  constructor(core: PollCore, options: SsfPollOptions) {
    this.#core = core;
    this.#url = checkUrl(options.url);
    const auth = options.auth;
    if (typeof auth === 'string') checkString('auth', auth, { nonEmpty: true });
    else checkFunction('auth', auth);
    this.#auth = auth;
    this.#interval = checkDuration('interval', options.interval, 5_000);
    this.#maxEvents = checkCount('maxEvents', options.maxEvents, 25);
    this.#timeout = checkDuration('timeout', options.timeout, 30_000);
    this.#maxBackoff = checkDuration('maxBackoff', options.maxBackoff, 60_000);
    this.#done = this.#loop().finally(() => {
      this.#running = false;
    });
  }

  get running(): boolean {
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopper.abort();
    await this.#done;
    if (!this.#owed()) return;
    try {
      await this.#send(0, AbortSignal.timeout(this.#timeout));
    } catch (err) {
      this.#core.report(err as Error);
    }
  }

  async #loop(): Promise<void> {
    const signal = this.#stopper.signal;
    let backoff = this.#interval;
    const wait = async (): Promise<void> => {
      await pause(backoff, signal);
      backoff = Math.min(backoff * 2, this.#maxBackoff);
    };
    while (!signal.aborted) {
      let body: Record<string, unknown>;
      try {
        body = await this.#send(this.#maxEvents, signal);
      } catch (err) {
        if (signal.aborted) break;
        this.#core.report(err as Error);
        await wait();
        continue;
      }
      const sets = Object.entries((body['sets'] ?? {}) as Record<string, unknown>);
      if (sets.length === 0) {
        // Whatever its moreAvailable says: a transmitter that claims more but sends none would
        // otherwise be asked again in a tight loop.
        backoff = this.#interval;
        await pause(this.#interval, signal);
        continue;
      }
      for (const [jti, token] of sets) await this.#take(jti, token);
      if (!this.#owed()) {
        // SETs came but none could be taken (our side failed): they come back at once, unacknowledged,
        // so this waits and backs off as after a failed request.
        await wait();
        continue;
      }
      backoff = this.#interval;
      // Acknowledgements are owed: the next request sends them at once (and takes what is more).
    }
  }

  /** One RFC 8936 request: what is owed, and a request for up to `events` SETs. */
  async #send(events: number, signal: AbortSignal): Promise<Record<string, unknown>> {
    const authorization = typeof this.#auth === 'function' ? await this.#auth() : this.#auth;
    const { status, body } = await requestTransmitter('poll', this.#url, {
      method: 'POST',
      authorization,
      json: { ack: this.#ack, setErrs: this.#setErrs, maxEvents: events, returnImmediately: true },
      timeout: this.#timeout,
      maxBytes: Math.max(events, 1) * MAX_SET_BYTES + 4096,
      signal,
    });
    if (status !== 200) throw transmitterError(`poll: the transmitter answered ${status}`);
    if (!isObject(body) || (body['sets'] !== undefined && !isObject(body['sets'])))
      throw transmitterError('poll: the answer has no "sets" object');
    // Delivered: these acknowledgements are the transmitter's now.
    this.#ack = [];
    this.#setErrs = {};
    return body;
  }

  async #take(jti: string, token: unknown): Promise<void> {
    try {
      await this.#core.receive(typeof token === 'string' ? token : '', 'poll');
      this.#ack.push(jti);
    } catch (err) {
      const { code, ssfError, description } = err as ContinuousTlsError & {
        ssfError?: SsfErrorCode;
        description?: string;
      };
      // Our side failed (fleet unreachable): no answer, so the transmitter delivers it again.
      if (code === 'ERR_CTLS_SET_INVALID' && ssfError !== undefined)
        this.#setErrs[jti] = { err: ssfError, description: description ?? 'invalid SET' };
    }
  }

  #owed(): boolean {
    return this.#ack.length > 0 || Object.keys(this.#setErrs).length > 0;
  }
}

function checkUrl(url: unknown): URL {
  if (url instanceof URL) return url;
  if (typeof url !== 'string' || !URL.canParse(url)) throw invalidOption('poll.url', 'an absolute URL', url);
  return new URL(url);
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(timerDelay(ms), undefined, { signal });
  } catch {
    // Aborted by stop().
  }
}
