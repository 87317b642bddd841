// Decisions expire and connections are re-checked on a schedule: expiresAt is the earliest of the
// certificate's notAfter, the policy's TTL and a token's exp; a lapsed decision holds data even before
// any re-check runs; a ~2 s client certificate is cut at its expiry; a policy that flips to deny cuts
// at the next interval re-check; `every` + `jitter` spread re-checks, and all connections share one
// timer. Schedule arithmetic runs on an Authorizer with an injected clock; cuts run on real sockets.
import t from 'tap';
import { EventEmitter } from 'node:events';
import type { X509Certificate } from 'node:crypto';
import {
  Authorizer,
  Scheduler,
  createSecureContext,
  reauthorize,
  type SecureContext,
  type AuthorizationInput,
  type Decision,
  type DecisionEvent,
} from '../dist/index.js';
import type { AuthorizationSubject } from '../dist/authz/subject.js';
import { closed, pemChain, waitFor } from './helpers/owned';
import { codeOf, connectPair, delay, makePki, mtlsOptions, type Pki, Received, startServer } from './helpers/mtls';

/** A manual clock for the Scheduler; advance() fires due timers in order. */
class FakeClock {
  time = Date.now();
  timers = new Map<number, { at: number; run: () => void }>();
  #id = 0;
  now = (): number => this.time;
  setTimeout = (run: () => void, ms: number): { id: number; unref: () => void } => {
    const id = ++this.#id;
    this.timers.set(id, { at: this.time + ms, run });
    return { id, unref: () => {} };
  };
  clearTimeout = (handle: unknown): void => {
    this.timers.delete((handle as { id: number }).id);
  };
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    for (;;) {
      let next: [number, { at: number; run: () => void }] | undefined;
      for (const entry of this.timers)
        if (entry[1].at <= target && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.time = Math.max(this.time, next[1].at);
      next[1].run();
      // Let the decisions the timer started (async policy evaluation) finish.
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.time = target;
  }
}

let lastTrust: SecureContext | undefined;

/** Stands in for a connection: the Authorizer only talks to this interface. */
class FakeSubject {
  readonly kind = 'owned' as const;
  readonly socket = Object.assign(new EventEmitter(), { remoteAddress: '127.0.0.1' });
  readonly isServer = true;
  readonly createdAt = Date.now();
  /** The trust context of the engine last made by makeAuthorizer (each test makes one). */
  readonly trust = lastTrust;
  readonly certificateEpoch = 1;
  destroyed = false;
  holds = new Set<string>();
  deadline = Infinity;
  constructor(readonly chain: X509Certificate[]) {}
  peerChain(): X509Certificate[] {
    return this.chain;
  }
  exchangeVerdict(): null {
    return null;
  }
  hold(reason: string): void {
    this.holds.add(reason);
  }
  release(reason: string): void {
    this.holds.delete(reason);
  }
  setDeadline(expiresAt: number): void {
    this.deadline = expiresAt;
  }
  async requestFresh(): Promise<void> {}
  info(): { protocol: string } {
    return { protocol: 'TLSv1.3' };
  }
  destroy(): void {
    this.destroyed = true;
    this.socket.emit('close');
  }
}

const asSubject = (subject: FakeSubject): AuthorizationSubject => subject as unknown as AuthorizationSubject;

function engine(
  pki: Pki,
  clock: FakeClock,
  options: Omit<ConstructorParameters<typeof Authorizer>[0], 'trust' | 'scheduler'>,
): Authorizer {
  lastTrust = createSecureContext({ ca: pki.ca.rootCert }, true);
  return new Authorizer({ trust: lastTrust, scheduler: new Scheduler(clock), requireCertificate: true, ...options });
}

t.test('expiresAt is the earliest of certificate notAfter, policy TTL and token exp', async (t) => {
  const pki = await makePki();
  const shortCert = await pki.ca.issueClient({ commonName: 'alice', validityMs: 120_000 });
  const chain = pemChain(shortCert.chain);
  const notAfter = shortCert.notAfter.getTime();
  const clock = new FakeClock();
  let ttlMs: number | undefined;
  const authorizer = engine(pki, clock, {
    policy: () => (ttlMs === undefined ? true : { allow: true, ttlMs }),
    reauthorize: { every: 0 },
  });
  t.teardown(() => authorizer.close());
  const subject = new FakeSubject(chain);

  const first = await authorizer.admit(asSubject(subject));
  t.equal(first.allow, true);
  t.equal(first.expiresAt, notAfter, 'no TTL, no token: the certificate notAfter');
  t.equal(subject.deadline, notAfter, 'the data gate gets the same deadline');

  ttlMs = 10_000;
  const withTtl = await authorizer.reauthorize(subject.socket);
  t.equal(withTtl.expiresAt, clock.now() + 10_000, 'a policy TTL shorter than the certificate');

  const exp = Math.floor(clock.now() / 1000) + 5;
  const withToken = await authorizer.reauthorize(subject.socket, { token: { sub: 'alice', exp } });
  t.equal(withToken.expiresAt, exp * 1000, 'a token that expires before both');

  ttlMs = 600_000;
  const longTtl = await authorizer.reauthorize(subject.socket, { token: { sub: 'alice', exp: exp + 3_600 } });
  t.equal(longTtl.expiresAt, notAfter, 'the certificate again once TTL and token outlive it');
});

t.test('at expiry the decision lapses, data is held and the connection re-checked', async (t) => {
  const pki = await makePki();
  const clock = new FakeClock();
  const triggers: string[] = [];
  let allow = true;
  const authorizer = engine(pki, clock, {
    policy: (input: AuthorizationInput) => {
      triggers.push(input.trigger);
      return { allow, ttlMs: 5_000 };
    },
    reauthorize: { every: 0, onExpiry: true },
  });
  t.teardown(() => authorizer.close());
  const subject = new FakeSubject(pemChain(pki.client.chain));
  const first = await authorizer.admit(asSubject(subject));
  t.equal(first.expiresAt, clock.now() + 5_000);

  let heldDuringCheck = false;
  const originalHold = subject.hold.bind(subject);
  subject.hold = (reason) => {
    originalHold(reason);
    if (reason === 'lapsed') heldDuringCheck = true;
  };
  await clock.advance(4_999);
  t.same(triggers, ['handshake'], 'nothing before expiresAt');
  await clock.advance(1);
  t.same(triggers, ['handshake', 'expiry'], 're-checked exactly at expiresAt');
  t.equal(heldDuringCheck, true, 'the gate was held the moment the decision lapsed');
  t.same([...subject.holds], [], 'released by the new allow');

  allow = false;
  const denied = waitFor<[Decision]>(subject.socket, 'deauthorized');
  await clock.advance(5_000);
  const [decision] = await denied;
  t.equal(decision.trigger, 'expiry');
  t.equal(subject.destroyed, true, 'a denial at expiry destroys the connection');
});

t.test('every + jitter spread the periodic re-checks; every connection shares one timer', async (t) => {
  const pki = await makePki();
  const chain = pemChain(pki.client.chain);
  const clock = new FakeClock();
  const start = clock.now();
  const intervalAt: number[] = [];
  const authorizer = engine(pki, clock, {
    policy: (input: AuthorizationInput) => {
      if (input.trigger === 'interval') intervalAt.push(clock.now() - start);
      return true;
    },
    reauthorize: { every: 1_000, jitter: 500, onExpiry: true },
  });
  t.teardown(() => authorizer.close());

  const subjects = Array.from({ length: 2_000 }, () => new FakeSubject(chain));
  await Promise.all(subjects.map((subject) => authorizer.admit(asSubject(subject))));
  t.equal(authorizer.scheduler.size, 4_000, 'an interval and an expiry task per connection, in one heap');
  t.equal(clock.timers.size, 1, 'one timer for 2000 connections');

  await clock.advance(999);
  t.equal(intervalAt.length, 0, 'no re-check before `every`');
  await clock.advance(501);
  t.equal(intervalAt.length, 2_000, 'every connection re-checked within every + jitter');
  t.ok(
    intervalAt.every((at) => at >= 1_000 && at <= 1_500),
    'all inside [every, every + jitter]',
  );
  const spread = new Set(intervalAt).size;
  t.ok(spread > 200, `spread over ${spread} distinct instants, not one burst`);
  t.equal(clock.timers.size, 1, 'still one timer after rescheduling');

  const withoutJitter = engine(pki, clock, { policy: () => true, reauthorize: { every: 1_000 } });
  t.teardown(() => withoutJitter.close());
  const seen: number[] = [];
  withoutJitter.on('decision', (event: DecisionEvent) => event.trigger === 'interval' && seen.push(clock.now()));
  const base = clock.now();
  await Promise.all(Array.from({ length: 10 }, () => withoutJitter.admit(asSubject(new FakeSubject(chain)))));
  await clock.advance(1_000);
  t.same(seen, Array(10).fill(base + 1_000), 'without jitter: all exactly at `every`');
});

t.test('a lapsed decision holds data even when no re-check is scheduled', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      // A short TTL and no timer at all: only the deadline in the data path can stop the bytes.
      policy: () => ({ allow: true, ttlMs: 300 }),
      reauthorize: { every: 0, onExpiry: false },
    }),
  );
  const { client, socket } = await connectPair(t, server, port, pki);
  const received = new Received(socket);
  client.write('before');
  await received.until(6);
  const lapsesAt = socket.decision!.expiresAt;
  await delay(Math.max(0, lapsesAt - Date.now()) + 100);
  client.write('after-lapse');
  await delay(300);
  t.equal(received.text(), 'before', 'nothing delivered once the decision lapsed');
  t.equal(socket.destroyed, false, 'held, not cut');

  const decision = await reauthorize(socket);
  t.equal(decision.allow, true);
  await received.until(6 + 11);
  t.equal(received.text(), 'beforeafter-lapse', 'the held bytes follow the new decision, in order');
});

t.test('a ~2 s client certificate is cut at its expiry', async (t) => {
  const pki = await makePki();
  // notAfter is rounded down to a whole second: 2-3 s from now.
  const shortLived = await pki.ca.issueClient({ commonName: 'short', validityMs: 3_000 });
  const notAfter = shortLived.notAfter.getTime();
  const { server, port } = await startServer(t, mtlsOptions(pki, { reauthorize: { every: 0, onExpiry: true } }));
  const { client, socket } = await connectPair(t, server, port, pki, shortLived);
  t.equal(socket.decision?.expiresAt, notAfter, 'the decision expires with the certificate');

  const received = new Received(socket);
  let bytesAtCut = -1;
  const deauthorized = waitFor<[Decision]>(socket, 'deauthorized', notAfter - Date.now() + 5_000);
  socket.once('deauthorized', () => (bytesAtCut = received.bytes));
  // The client writes a numbered line every 10 ms until the server cuts it.
  let sent = 0;
  const writer = setInterval(() => {
    if (!client.destroyed) client.write(`line ${sent++}\n`);
  }, 10);
  t.teardown(() => clearInterval(writer));

  const [decision] = await deauthorized;
  const cutAt = Date.now();
  await closed(socket);
  await closed(client);
  clearInterval(writer);
  t.equal(decision.trigger, 'expiry');
  t.equal(decision.reason, 'CERT_HAS_EXPIRED');
  t.ok(cutAt >= notAfter, `cut ${cutAt - notAfter} ms after notAfter, not before`);
  t.ok(cutAt <= notAfter + 1_500, `cut within 1.5 s of notAfter (${cutAt - notAfter} ms)`);
  t.ok(
    received.bytes > 0 && received.lastAt < notAfter,
    `last byte delivered ${notAfter - received.lastAt} ms before notAfter`,
  );
  t.equal(received.bytes, bytesAtCut, 'no byte delivered after the cut');
  t.equal(codeOf(socket.destroyReason), 'ERR_CTLS_DEAUTHORIZED');
});

t.test('a policy that flips to deny cuts at the next interval re-check', async (t) => {
  const pki = await makePki();
  let allow = true;
  const triggers: string[] = [];
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      policy: (input) => {
        triggers.push(input.trigger);
        return { allow, reason: allow ? 'ok' : 'flipped' };
      },
      reauthorize: { every: 300 },
    }),
  );
  const { client, socket } = await connectPair(t, server, port, pki);
  const received = new Received(socket);
  const deauthorized = waitFor<[Decision]>(socket, 'deauthorized');

  await delay(700);
  t.ok(triggers.filter((trigger) => trigger === 'interval').length >= 1, 'interval re-checks ran while allowed');
  t.equal(socket.destroyed, false);
  client.write('while-allowed');
  await received.until(13);

  allow = false;
  const flippedAt = Date.now();
  const [decision] = await deauthorized;
  const cutAfter = Date.now() - flippedAt;
  t.equal(decision.trigger, 'interval');
  t.equal(decision.reason, 'flipped');
  t.ok(cutAfter <= 300 + 700, `cut ${cutAfter} ms after the flip, at the next re-check`);
  await closed(socket);
  await closed(client);
  t.equal(received.text(), 'while-allowed');
});
