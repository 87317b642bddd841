/**
 * Small helpers for the owned-tier tests: listen on an ephemeral loopback port, close everything on
 * teardown, wait for an event with a deadline, and split PEM chains.
 */
import { X509Certificate } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type * as net from 'node:net';
import type { Test } from 'tap';

/** What listen()/closeServer() need: node's net.Server or ours (whose connections() is a method). */
export interface Listenable extends EventEmitter {
  listen(port: number, host: string, callback: () => void): unknown;
  address(): net.AddressInfo | string | null;
  close(callback?: () => void): unknown;
  readonly listening: boolean;
}

/** Listens on 127.0.0.1 with an OS-chosen port; closes the server (and its live sockets) on teardown. */
export async function listen(t: Test, server: Listenable): Promise<number> {
  // Every raw connection is tracked, so teardown can cut node:tls / http ones too.
  const transports = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    transports.add(socket);
    socket.once('close', () => transports.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  t.teardown(() => {
    for (const socket of transports) socket.destroy();
    return closeServer(server);
  });
  return (server.address() as net.AddressInfo).port;
}

/** Destroys every live connection of our server (connections()) and closes it. */
export function closeServer(server: Listenable): Promise<void> {
  const any = server as Listenable & { connections?: unknown };
  if (typeof any.connections === 'function') {
    for (const socket of (any.connections as () => Array<{ destroy(): void }>).call(server)) socket.destroy();
  }
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}

/** Resolves with the event's arguments; rejects on 'error' (unless waiting for it) or after `ms`. */
export function waitFor<T extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  event: string,
  ms = 10_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${ms} ms waiting for '${event}'`));
    }, ms);
    const onEvent = (...args: unknown[]): void => {
      cleanup();
      resolve(args as T);
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      emitter.off(event, onEvent);
      if (event !== 'error') emitter.off('error', onError);
    };
    emitter.on(event, onEvent);
    if (event !== 'error') emitter.on('error', onError);
  });
}

/** Resolves when the emitter emits 'close' (at once if already closed); errors on the way are ignored. */
export function closed(emitter: EventEmitter & { closed?: boolean }, ms = 10_000): Promise<void> {
  if (emitter.closed === true) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const ignore = (): void => {};
    const timer = setTimeout(() => {
      emitter.off('error', ignore);
      reject(new Error(`timed out after ${ms} ms waiting for 'close'`));
    }, ms);
    emitter.on('error', ignore);
    emitter.once('close', () => {
      clearTimeout(timer);
      emitter.off('error', ignore);
      resolve();
    });
  });
}

/** The certificates of a PEM bundle, in order. */
export function pemChain(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

/** The DER buffers of a PEM bundle, in order. */
export function derChain(pem: string): Buffer[] {
  return pemChain(pem).map((certificate) => certificate.raw);
}

/** Milliseconds to wait for something that should happen "now" on a slow, loaded CI machine. */
export const SOON = 10_000;

/**
 * Two connected in-memory Duplex streams (node 20 has no stream.duplexPair). With
 * `propagateEnd: false`, end() on one side is not seen by the other, so only TLS's own
 * close_notify can end the peer's readable side.
 */
export function duplexPair(options: { propagateEnd?: boolean } = {}): [Duplex, Duplex] {
  const propagateEnd = options.propagateEnd ?? true;
  const sides: Duplex[] = [];
  const make = (index: number): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        const other = sides[1 - index]!;
        if (!other.destroyed) other.push(chunk);
        callback();
      },
      final(callback) {
        if (propagateEnd) sides[1 - index]!.push(null);
        callback();
      },
      destroy(error, callback) {
        const other = sides[1 - index]!;
        if (!other.destroyed) other.destroy();
        callback(error);
      },
    });
  sides.push(make(0), make(1));
  return [sides[0]!, sides[1]!];
}
