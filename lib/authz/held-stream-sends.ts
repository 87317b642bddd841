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
    const send = (...args: unknown[]): unknown => {
      // A response already parked: node's own method reads headersSent and throws what it would.
      if (refusedOnceSent && sent !== undefined && responsePending) return method.apply(stream, args) as unknown;
      const parked = gate.park(() => {
        if (response) responsePending = false;
        try {
          method.apply(stream, args);
        } catch (error) {
          // pushStream() answers its own callback (node would have thrown at the app's call).
          const callback =
            name === 'pushStream' ? [...args].reverse().find((arg) => typeof arg === 'function') : undefined;
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
  const reason = error instanceof Error ? error : new Error(String(error));
  if (stream.listenerCount('error') > 0) stream.destroy(reason);
  else {
    stream.destroy();
    process.emitWarning(reason.message, { type: 'ContinuousTlsWarning', code: (reason as { code?: string }).code });
  }
}
