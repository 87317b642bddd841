/**
 * Loopback plumbing shared by the interop tests: listen on an ephemeral port and close on teardown,
 * wait for an event with a deadline, and a small echo exchange that proves data flows both ways.
 */
import { once, type EventEmitter } from 'node:events';
import * as net from 'node:net';
import type { Test } from 'tap';

export const EVENT_TIMEOUT_MS = 10_000;

/** What both servers share (ours replaces net.Server's numeric `connections` with a method). */
export interface AnyServer extends EventEmitter {
  listen(port: number, host: string): unknown;
  address(): net.AddressInfo | string | null;
  close(callback?: (error?: Error) => void): unknown;
  readonly listening: boolean;
}

/** Listens on 127.0.0.1:0; on teardown destroys live connections and closes the server. */
export async function listenLoopback(t: Test, server: AnyServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening', { signal: AbortSignal.timeout(EVENT_TIMEOUT_MS) });
  t.teardown(() => closeServer(server));
  return (server.address() as net.AddressInfo).port;
}

export function closeServer(server: AnyServer): Promise<void> {
  // Ours lists its TLSSockets with connections(); node's (>= 18.2) closes them with closeAllConnections.
  const ours = server as AnyServer & { connections?: unknown };
  if (typeof ours.connections === 'function') {
    for (const socket of (ours.connections as () => Array<{ destroy(): void }>)()) socket.destroy();
  }
  (server as AnyServer & { closeAllConnections?: () => void }).closeAllConnections?.();
  return new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
}

/** Resolves with the event's arguments; rejects on 'error' or after `ms`. */
export function waitFor<T extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  event: string,
  ms = EVENT_TIMEOUT_MS,
): Promise<T> {
  return (once(emitter, event, { signal: AbortSignal.timeout(ms) }) as Promise<T>).catch((error: Error) => {
    throw error.name === 'AbortError' ? new Error(`timed out after ${ms} ms waiting for '${event}'`) : error;
  });
}

/** A free loopback TCP port for a child process that cannot be told to listen on 0. */
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Server side of the echo exchange: say `greeting` first, then echo every byte back. */
export function echoWithGreeting(socket: NodeJS.ReadWriteStream & EventEmitter, greeting: string): void {
  socket.on('error', () => {}); // the client's checks report failures; keep the server alive
  socket.write(greeting);
  socket.pipe(socket);
}

/**
 * Client side of the echo exchange: sends `payload`, collects `expectedLength` bytes (greeting +
 * echo), then ends the connection. Rejects on error, early close or after `ms`.
 */
export function collect(
  socket: NodeJS.ReadWriteStream & EventEmitter,
  payload: Buffer,
  expectedLength: number,
  ms = EVENT_TIMEOUT_MS,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(
      () => finish(new Error(`received ${received} of ${expectedLength} bytes within ${ms} ms`)),
      ms,
    );
    const finish = (error: Error | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', finish);
      socket.off('close', onClose);
      if (error !== null) reject(error);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= expectedLength) {
        socket.end();
        finish(null);
      }
    };
    const onClose = (): void => finish(new Error(`connection closed after ${received} of ${expectedLength} bytes`));
    socket.on('data', onData);
    socket.on('error', finish);
    socket.on('close', onClose);
    socket.write(payload);
  });
}

export interface TextSink {
  /** Everything received so far, as UTF-8. */
  readonly text: string;
  /** Resolves once `text` contains `expected` (at or after offset `from`); rejects after `ms` or on close. */
  waitFor(expected: string, ms?: number, from?: number): Promise<void>;
}

/** Collects a stream's 'data' as text so a test can await what the peer sent. */
export function textSink(stream: EventEmitter): TextSink {
  let text = '';
  let closed = false;
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };
  stream.on('data', (chunk: Buffer | string) => {
    text += chunk.toString();
    notify();
  });
  stream.once('close', () => {
    closed = true;
    notify();
  });
  return {
    get text() {
      return text;
    },
    waitFor(expected, ms = EVENT_TIMEOUT_MS, from = 0) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (text.indexOf(expected, from) !== -1) {
            finish();
            resolve();
          } else if (closed) {
            finish();
            reject(new Error(`closed before receiving ${JSON.stringify(expected)}; got ${JSON.stringify(text)}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`did not receive ${JSON.stringify(expected)} within ${ms} ms; got ${JSON.stringify(text)}`));
        }, ms);
        const finish = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}
