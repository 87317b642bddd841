/**
 * The peers of the held-bytes budget tests (maxHeldBytes / maxHeldBytesTotal): hostile clients that
 * hold data on the server behind a certificate request they never answer, and an honest client that
 * has data in flight when its own request goes out and answers it at once. The tests then check
 * which of them the server cuts when the budget runs out.
 */
import type * as net from 'node:net';
import type { Test } from 'tap';
import type { Server } from '../../dist/index.js';
import { codeOf, connectPair, delay, Received, type Pair, type Pki } from './mtls';

export const MiB = 1024 * 1024;

/** Bytes the server has taken off the wire from the peer of `pair`, held or delivered. */
export const readByServer = (pair: Pair): number => (pair.socket.transport as net.Socket).bytesRead;

/** Whether the server still has `pair` open with at least `share` bytes read from its peer. */
export const holdsShare = (pair: Pair, share: number): boolean => !pair.socket.destroyed && readByServer(pair) >= share;

/**
 * Connects `peers` hostile clients (valid certificates). Each gets a certificate request it never
 * reads, so never answers, and sends `share` bytes that the server must hold behind that request.
 * Resolves once the server has read every share or `withinMs` passed; the test checks which.
 */
export async function hostileHolders(
  t: Test,
  server: Server,
  port: number,
  pki: Pki,
  { peers, share, withinMs }: { peers: number; share: number; withinMs: number },
): Promise<Pair[]> {
  const hostile: Pair[] = [];
  for (let i = 0; i < peers; i++) hostile.push(await connectPair(t, server, port, pki));
  for (const pair of hostile) {
    // A request that outlasts the test: the peer keeps its share held for as long as the test needs.
    pair.socket.requestCertificate({ timeout: 30_000 }).catch(() => {});
    (pair.client.transport as { pause(): unknown }).pause();
    pair.client.write(Buffer.alloc(share, 0x61));
  }
  const deadline = Date.now() + withinMs;
  while (hostile.some((pair) => readByServer(pair) < share) && Date.now() < deadline) await delay(10);
  return hostile;
}

export interface HonestPeer extends Pair {
  /** How its certificate request ended: `verified` when answered, else the error's code. */
  answer: boolean | string | undefined;
  /** What the server application received from it. */
  received: Received;
}

/**
 * An honest client: `bytes` in flight when its own certificate request goes out, which it answers at
 * once. Resolves once the request is settled and the bytes delivered (or 3 s later, or at once if the
 * server cut it), for the test to check that the server kept it.
 */
export async function honestPeerBehindRequest(
  t: Test,
  server: Server,
  port: number,
  pki: Pki,
  bytes: number,
): Promise<HonestPeer> {
  const pair = await connectPair(t, server, port, pki);
  const received = new Received(pair.socket);
  pair.client.write(Buffer.alloc(bytes, 0x62));
  const answer = await pair.socket.requestCertificate({ timeout: 10_000 }).then(
    (result) => result.verified,
    (error: Error) => codeOf(error),
  );
  try {
    if (!pair.socket.destroyed) await received.until(bytes, 3_000);
  } catch {
    // What did arrive is the test's to judge.
  }
  return { ...pair, answer, received };
}
