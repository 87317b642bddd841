/**
 * requestCertificate(): a server asks its live peer for a fresh certificate (TLS 1.3
 * post-handshake authentication, RFC 8446 section 4.6.2; TLS 1.2 renegotiation) and settles the
 * callers once the peer answers, fails to answer in time, or the connection goes.
 *
 * One request is out at a time: concurrent callers share it. What the addon refuses (a request
 * still unfinished at the TLS level: ERR_CTLS_REAUTH_IN_PROGRESS; one it cannot make:
 * ERR_CTLS_FRESH_UNSUPPORTED) rejects the caller, coded, with nothing held. Otherwise the
 * connection's data is held for the whole request, so no byte the peer sends under a new
 * identity is delivered before that identity is decided on. Requests the authorization engine
 * makes carry kEngineRequest: the engine decides their answers itself, while an answer to
 * anybody else's request is reported to it.
 */
import { ctlsError } from '../common/errors.js';
import { checkDuration, checkObject } from '../common/validate.js';
import type { NativeTlsConnection } from './native.js';
import { codedError } from './native-errors.js';
import type { PeerCertificateResult } from './peer-certificate.js';
import { kEngineRequest } from './symbols.js';
import { timerDelay } from '../common/timers.js';

export interface CertificateRequestOptions {
  /** ms the peer has to answer before the connection is closed (default 5000). */
  timeout?: number;
  [kEngineRequest]?: boolean;
}

const DEFAULT_TIMEOUT_MS = 5000;

/** What a request needs from its connection; the socket provides it once. */
export interface CertificateRequestHost {
  /** Holds the connection's data in both directions while the request is out. */
  hold(): void;
  /** The request is over: data flows again as far as other holds allow. */
  release(): void;
  /** Sends the request's bytes and keeps reading: the answer sits behind whatever the peer sent first. */
  send(request: Buffer | null): void;
  /** The peer did not answer in time: the connection ends with `error`. */
  timedOut(error: Error): void;
  /**
   * The peer answered: the connection takes the certificate as its own (authorization, verdict,
   * 'certificate' event). `outsideEngine`: somebody other than the engine asked, so the engine
   * must decide on the answer before data flows.
   */
  adopt(result: PeerCertificateResult, outsideEngine: boolean): void;
}

interface Pending {
  promise: Promise<PeerCertificateResult>;
  resolve: (result: PeerCertificateResult) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  outsideEngine: boolean;
}

export class CertificateRequests {
  #host: CertificateRequestHost;
  #pending: Pending | null = null;

  constructor(host: CertificateRequestHost) {
    this.#host = host;
  }

  /** Is a certificate request outstanding? */
  get outstanding(): boolean {
    return this.#pending !== null;
  }

  /** Starts a request on `handle` (null: the connection is closed), or joins the outstanding one. */
  request(handle: NativeTlsConnection | null, options: CertificateRequestOptions = {}): Promise<PeerCertificateResult> {
    let timeout: number;
    try {
      checkObject('options', options);
      timeout = checkDuration('timeout', options.timeout, DEFAULT_TIMEOUT_MS);
    } catch (error) {
      return Promise.reject(error);
    }
    const outsideEngine = options[kEngineRequest] !== true;
    if (this.#pending !== null) {
      if (outsideEngine) this.#pending.outsideEngine = true;
      return this.#pending.promise;
    }
    if (handle === null) return Promise.reject(ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket is closed'));
    let request: Buffer | null;
    try {
      request = handle.requestCertificate();
    } catch (error) {
      return Promise.reject(codedError(error));
    }
    this.#host.hold();
    let resolve!: (result: PeerCertificateResult) => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<PeerCertificateResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const timer = setTimeout(() => {
      const message = `the peer did not answer the certificate request within ${timeout} ms`;
      this.#host.timedOut(ctlsError('ERR_CTLS_REAUTH_TIMEOUT', message));
    }, timerDelay(timeout));
    timer.unref();
    // Outstanding before its bytes leave: an in-memory peer may answer within send().
    this.#pending = { promise, resolve, reject, timer, outsideEngine };
    this.#host.send(request);
    return promise;
  }

  /** The peer answered the outstanding request with `result`. */
  complete(result: PeerCertificateResult): void {
    const pending = this.#pending;
    if (pending === null) return;
    this.#pending = null;
    clearTimeout(pending.timer);
    this.#host.adopt(result, pending.outsideEngine);
    this.#host.release();
    pending.resolve(result);
  }

  /** The connection is gone: the outstanding request, if any, fails with `error`. */
  abandon(error: Error | null): void {
    const pending = this.#pending;
    if (pending === null) return;
    this.#pending = null;
    clearTimeout(pending.timer);
    pending.reject(error ?? ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket closed during re-authentication'));
  }
}
