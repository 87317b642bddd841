/**
 * An HTTP/2 stream's sends that go through its session natively, past `_write`: response headers
 * (`respond()`), a file or descriptor with its headers (`respondWithFile()`, `respondWithFD()`),
 * informational headers, trailers and push promises. On a held attached connection they would reach
 * the peer while its data waits, so they are parked in the stream's WriteGate, in order with its
 * writes.
 *
 * While a response is parked the stream reports `headersSent`, as it would had the call gone
 * through: node's compatibility API (`res.write()`, `res.end()`) reads it to decide whether to
 * respond, and a second respond() throws at once, as it would without the hold.
 */
import type { Duplex } from 'node:stream';
import { codeOfThrown, describeThrown, warnOfFailure } from '../common/errors.js';
import type { WriteGate } from './write-gate.js';

/** Sends that carry the response's headers: after one, the stream's headers count as sent. */
const RESPONSES = ['respond', 'respondWithFD', 'respondWithFile'];
/** Sends node refuses once the headers were sent (it reads `headersSent`), as the responses do. */
const BEFORE_RESPONSE = [...RESPONSES, 'additionalHeaders'];
const SENDS = [...BEFORE_RESPONSE, 'sendTrailers', 'pushStream'];

export function holdStreamSends(stream: Duplex, gate: WriteGate): void {
  let responsePending = false;
  const sent = getterOf(stream, 'headersSent');
  if (sent !== undefined) {
    Object.defineProperty(stream, 'headersSent', {
      get: () => responsePending || Boolean(sent.call(stream)),
      configurable: true,
      enumerable: false,
    });
  }
  for (const name of SENDS) {
    const method = (stream as unknown as Record<string, unknown>)[name];
    if (typeof method !== 'function') continue;
    const response = RESPONSES.includes(name);
    const refusedOnceSent = BEFORE_RESPONSE.includes(name);
    const push = name === 'pushStream';
    const send = (...args: unknown[]): unknown => {
      // A response already parked: node's own method reads headersSent and throws what it would.
      if (refusedOnceSent && sent !== undefined && responsePending) return method.apply(stream, args) as unknown;
      // A push node refuses before it sends anything is refused at the app's call, as without the hold.
      if (push && refusesPushAtOnce(stream, args)) return method.apply(stream, args) as unknown;
      const parked = gate.park(() => {
        if (response) responsePending = false;
        try {
          method.apply(stream, args);
        } catch (error) {
          // pushStream() answers its own callback: what it refuses only once it builds the promise
          // (an invalid header) would have been thrown at the app's call.
          // The one node would answer: the second argument when it is a function, else the third.
          const callback = push ? (typeof args[1] === 'function' ? args[1] : args[2]) : undefined;
          if (typeof callback === 'function') process.nextTick(callback as (error: unknown) => void, error);
          else failParkedSend(stream, error);
        }
      });
      if (!parked) return method.apply(stream, args) as unknown;
      if (response) responsePending = true;
      // Each of these answers undefined: a parked call answers as the real one does.
      return undefined;
    };
    Object.defineProperty(stream, name, { value: send, writable: true, configurable: true, enumerable: false });
  }
}

/**
 * Whether node's pushStream() throws for these arguments before it sends anything: the peer
 * disabled push or the stream is closing (`pushAllowed`), the stream is itself a push (an even id),
 * or there is no callback. Such a call goes straight to node, which throws at once.
 */
function refusesPushAtOnce(stream: Duplex, args: unknown[]): boolean {
  const { pushAllowed, id } = stream as { pushAllowed?: unknown; id?: unknown };
  if (pushAllowed === false) return true;
  if (typeof id === 'number' && id % 2 === 0) return true;
  return typeof (typeof args[1] === 'function' ? args[1] : args[2]) !== 'function';
}

/** The getter `name` has on `target`'s prototype chain, if node still defines one there. */
function getterOf(target: object, name: string): (() => unknown) | undefined {
  for (let at: object | null = target; at !== null; at = Object.getPrototypeOf(at) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(at, name);
    if (descriptor !== undefined) return descriptor.get;
  }
  return undefined;
}

/**
 * A parked send threw when the hold was released (an invalid header, the stream closed meanwhile),
 * where the app would have had the error at its call: the stream errors, or, with no 'error'
 * listener (which would crash the process), is reset and the error becomes a process warning.
 */
function failParkedSend(stream: Duplex, error: unknown): void {
  const code = codeOfThrown(error);
  if (stream.listenerCount('error') > 0) {
    // A new Error the library made, the thrown value as its cause: node's destroy() reads the
    // stack of what it is given, and an app's value may throw there (a getter, a revoked Proxy).
    const reason = new Error(describeThrown(error), { cause: error });
    if (code !== undefined) (reason as Error & { code?: string }).code = code;
    stream.destroy(reason);
    return;
  }
  stream.destroy();
  warnOfFailure('a held HTTP/2 send failed when released', error, code);
}
