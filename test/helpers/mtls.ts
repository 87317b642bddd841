/**
 * Owned-tier mTLS plumbing for the continuous-authorization tests: a development CA with a server
 * and a client identity, a server on an ephemeral loopback port, and a connected client/server socket
 * pair. Everything is destroyed on teardown.
 */
import type { Test } from 'tap';
import {
  connect,
  createServer,
  type ConnectOptions,
  type Server,
  type ServerOptions,
  type TLSSocket,
} from '../../dist/index.js';
import { DevelopmentCA, type IssuedIdentity } from '../../dist/dev/pki.js';
import { listen, waitFor } from './owned';

export interface Pki {
  ca: DevelopmentCA;
  server: IssuedIdentity;
  client: IssuedIdentity;
}

/** A fresh CA (so revocations in one test never leak into another) with a server and a client identity. */
export async function makePki(clientName = 'alice'): Promise<Pki> {
  const ca = await DevelopmentCA.create();
  const [server, client] = await Promise.all([
    ca.issueServer({ commonName: 'localhost' }),
    ca.issueClient({ commonName: clientName }),
  ]);
  return { ca, server, client };
}

/** Server options for mTLS with `pki`: its identity, its CA, client certificates required. */
export function mtlsOptions(pki: Pki, extra: ServerOptions = {}): ServerOptions {
  return {
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
    rejectUnauthorized: true,
    ...extra,
  };
}

/** createServer + listen on 127.0.0.1:0, closed (with every live connection) on teardown. */
export async function startServer(t: Test, options: ServerOptions): Promise<{ server: Server; port: number }> {
  const server = createServer(options);
  const port = await listen(t, server);
  return { server, port };
}

export interface Pair {
  client: TLSSocket;
  /** The server's side of the same connection, after its handshake decision allowed it. */
  socket: TLSSocket;
}

/**
 * Connects our client with `identity` and resolves once both sides are secure. A listener on both
 * sockets' 'error' keeps an expected cut from failing the test; tests look at destroyReason instead.
 */
export async function connectPair(
  t: Test,
  server: Server,
  port: number,
  pki: Pki,
  identity: { key: string; chain: string } | null = pki.client,
  extra: ConnectOptions = {},
): Promise<Pair> {
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection');
  const client = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    ...(identity === null ? {} : { key: identity.key, cert: identity.chain }),
    ...extra,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect');
  const [socket] = await accepted;
  return { client, socket };
}

/** Counts (and keeps) the bytes a readable delivers, with the time of the last one. */
export class Received {
  chunks: Buffer[] = [];
  bytes = 0;
  lastAt = 0;
  constructor(stream: NodeJS.ReadableStream) {
    stream.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
      this.lastAt = Date.now();
    });
  }

  text(): string {
    return Buffer.concat(this.chunks).toString();
  }

  /** Resolves once `bytes` have arrived; rejects after `ms`. */
  until(bytes: number, ms = 10_000): Promise<void> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.bytes >= bytes) resolve();
        else if (Date.now() - started > ms)
          reject(new Error(`received ${this.bytes} of ${bytes} bytes within ${ms} ms`));
        else setTimeout(check, 5);
      };
      check();
    });
  }
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The `code` of an error (destroyReason is typed as a plain Error). */
export const codeOf = (error: Error | null | undefined): string | undefined =>
  (error as { code?: string } | null | undefined)?.code;

/**
 * The client writes 256 KiB chunks until either end closes and never reads, so a certificate
 * request the server sends it stays unanswered while the server holds what arrives.
 */
export async function floodWithoutReading(pair: Pair, fill = 0x61): Promise<void> {
  (pair.client.transport as { pause(): unknown }).pause();
  const chunk = Buffer.alloc(256 * 1024, fill);
  while (!pair.client.destroyed && !pair.socket.destroyed) {
    if (!pair.client.write(chunk)) {
      await new Promise((resolve) => {
        pair.client.once('drain', resolve);
        pair.client.once('close', resolve);
        pair.socket.once('close', resolve);
      });
    }
  }
}
