// Shared pieces of the ssf-* tests: a fake Fleet that records what it is asked to do, a receiver
// served on loopback, and a raw push.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import type { Fleet, FleetEvent, SubjectIdentifier } from '../../dist/fleet/types.js';

export type FleetCall =
  | { method: 'revokeSubject'; subject: SubjectIdentifier; options: { before?: number; reason?: string } | undefined }
  | { method: 'revokeCertificate'; revocation: Record<string, unknown> }
  | { method: 'publish'; event: FleetEvent };

export interface FakeFleet extends Fleet {
  calls: FleetCall[];
  /** Makes the next `n` revokes/publishes reject (ERR_CTLS_FLEET_UNAVAILABLE). */
  failNext(n: number): void;
}

/** A fake fleet; fakes made with the same `claims` map share their claimOnce (as one Redis would). */
export function fakeFleet(claims = new Map<string, number>()): FakeFleet {
  const calls: FleetCall[] = [];
  let failures = 0;
  const receipt = async () => {
    if (failures > 0) {
      failures--;
      throw Object.assign(new Error('fleet unavailable'), { code: 'ERR_CTLS_FLEET_UNAVAILABLE' });
    }
    return { id: `${calls.length}-0`, decisions: 0 };
  };
  const fleet = Object.assign(new EventEmitter(), {
    name: 'test',
    member: 'fake',
    calls,
    failNext: (n: number) => void (failures = n),
    watch() {
      return fleet;
    },
    unwatch() {
      return fleet;
    },
    async revokeCertificate(revocation: Record<string, unknown>) {
      calls.push({ method: 'revokeCertificate', revocation });
      return receipt();
    },
    async publishCrl() {
      return receipt();
    },
    async revokeSubject(subject: SubjectIdentifier, options?: { before?: number; reason?: string }) {
      calls.push({ method: 'revokeSubject', subject, options });
      return receipt();
    },
    async invalidatePolicy() {
      return receipt();
    },
    async publish(event: FleetEvent) {
      calls.push({ method: 'publish', event });
      return receipt();
    },
    status() {
      throw new Error('not in the fake');
    },
    async claimOnce(namespace: string, id: string, ttlMs: number) {
      const key = `${namespace}\0${id}`;
      const until = claims.get(key);
      if (until !== undefined && until > Date.now()) return false;
      claims.set(key, Date.now() + ttlMs);
      return true;
    },
    async close() {},
  });
  return fleet as unknown as FakeFleet;
}

/** Serves `handler` on loopback; closed at the end of the test. */
export async function serve(t: { teardown(fn: () => unknown): void }, handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export interface Answer {
  status: number;
  body: string;
  json: Record<string, unknown> | undefined;
}

/** POSTs `body` (a SET by default content type) and returns the answer. */
export async function push(
  url: string,
  body: string | Buffer,
  headers: Record<string, string> = { 'content-type': 'application/secevent+jwt' },
): Promise<Answer> {
  const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: response.status, body: text, json };
}

export const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
export const AUDIENCE = 'https://receiver.test/';

/** Polls `check` every 10 ms until it is true; rejects after `timeout`. */
export async function waitFor(check: () => boolean, timeout = 5_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
