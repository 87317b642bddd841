// Duplicate and replayed SETs: acknowledged (202) but applied once per receiver, reported as
// duplicates across two receivers sharing a fleet's claimOnce, and without a fleet; a SET the
// fleet could not apply is not remembered, so the transmitter's retry is applied.
import t from 'tap';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver, type SsfEvent } from '../dist/fleet/ssf/index.js';
import { AUDIENCE, CAEP, fakeFleet, push, serve } from './helpers/ssf';

const subject = { format: 'email', email: 'bob@example.com' } as const;

async function setup() {
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const options = { issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks() };
  const revoke = (jti: string) =>
    transmitter.sign({ audience: AUDIENCE, subject, jti, events: { [`${CAEP}session-revoked`]: {} } });
  return { transmitter, options, revoke };
}

t.test(
  'the same SET twice at one receiver: both 202, one fleet action, the second reported as a duplicate',
  async (t) => {
    const { options, revoke } = await setup();
    const fleet = fakeFleet();
    const receiver = ssfReceiver({ ...options, fleet });
    const events: SsfEvent[] = [];
    receiver.on('event', (event) => events.push(event));
    const url = await serve(t, receiver.handler);
    const token = await revoke('jti-1');
    t.equal((await push(url, token)).status, 202);
    t.equal((await push(url, token)).status, 202, 'a duplicate is acknowledged, not refused');
    t.equal(fleet.calls.length, 1);
    t.same(
      events.map((e) => [e.duplicate, e.applied]),
      [
        [false, true],
        [true, false],
      ],
    );
    // Another SET with the same jti from the same issuer is a replay too, whatever it carries.
    const other = await revoke('jti-1');
    t.not(other, token);
    t.equal((await push(url, other)).status, 202);
    t.equal(fleet.calls.length, 1, 'a new token with a seen jti is not applied');
    t.equal((await push(url, await revoke('jti-2'))).status, 202);
    t.equal(fleet.calls.length, 2, 'a new jti is');
  },
);

// The lasting fleet-wide claim is made after the apply (claimOnce cannot be taken back, and a claim
// made before an apply that failed would drop the transmitter's retry); before applying, a process
// checks for it. A SET sent to two processes at once is applied by one or both (the second when it
// checked before the first settled), and the second is reported a duplicate.
t.test('one SET pushed to two processes: one is the first, the other a duplicate', async (t) => {
  const { options, revoke } = await setup();
  const shared = new Map<string, number>();
  const fleetA = fakeFleet(shared);
  const fleetB = fakeFleet(shared);
  const receiverA = ssfReceiver({ ...options, fleet: fleetA });
  const receiverB = ssfReceiver({ ...options, fleet: fleetB });
  const events: SsfEvent[] = [];
  for (const receiver of [receiverA, receiverB]) receiver.on('event', (event) => events.push(event));
  const urlA = await serve(t, receiverA.handler);
  const urlB = await serve(t, receiverB.handler);
  const token = await revoke('fleet-jti');
  const [a, b] = await Promise.all([push(urlA, token), push(urlB, token)]);
  t.equal(a.status, 202);
  t.equal(b.status, 202);
  const calls = fleetA.calls.length + fleetB.calls.length;
  t.ok(calls === 1 || calls === 2, 'applied by the first, and by the other if it checked before the first settled');
  t.same(events.map((e) => e.duplicate).sort(), [false, true], 'one first, one duplicate fleet-wide');
  // Either process may have been the one that applied it; a replay adds no application anywhere.
  t.equal((await push(urlA, token)).status, 202);
  t.equal((await push(urlB, token)).status, 202);
  t.equal(fleetA.calls.length + fleetB.calls.length, calls, 'a replay to either process is not applied again');
  t.ok(
    [...shared.keys()].every((key) => key.startsWith('ssf-jti\0')),
    "claims live in the 'ssf-jti' namespace",
  );
});

t.test('a SET applied through one process is not applied again through another', async (t) => {
  const { options, revoke } = await setup();
  const shared = new Map<string, number>();
  const fleetA = fakeFleet(shared);
  const fleetB = fakeFleet(shared);
  const receiverA = ssfReceiver({ ...options, fleet: fleetA });
  const receiverB = ssfReceiver({ ...options, fleet: fleetB });
  const token = await revoke('applied-once');
  t.same(
    (await receiverA.receive(token)).map((e) => [e.duplicate, e.applied]),
    [[false, true]],
  );
  t.same(
    (await receiverB.receive(token)).map((e) => [e.duplicate, e.applied]),
    [[true, false]],
    'a duplicate',
  );
  t.equal(fleetB.calls.length, 0, 'not applied again');
  // A SET whose apply failed through one process is applied when retried through another.
  const failed = await revoke('failed-once');
  fleetA.failNext(1);
  await t.rejects(receiverA.receive(failed));
  t.same(
    (await receiverB.receive(failed)).map((e) => [e.duplicate, e.applied]),
    [[false, true]],
    'the retry is applied',
  );
});

t.test('without a fleet: an in-memory, bounded replay store', async (t) => {
  const { options, revoke } = await setup();
  const receiver = ssfReceiver({ ...options, replayCacheSize: 2 });
  const seen: boolean[] = [];
  receiver.on('event', (event) => seen.push(event.duplicate));
  const a = await revoke('a');
  await receiver.receive(a);
  await receiver.receive(a);
  await receiver.receive(await revoke('b'));
  await receiver.receive(await revoke('c'));
  t.same(seen, [false, true, false, false]);
  t.equal((await receiver.receive(await revoke('c')))[0]?.duplicate, true, 'recent claims survive eviction');
});

t.test('a SET the fleet could not apply is answered 503 and applied on retry', async (t) => {
  const { options, revoke } = await setup();
  const fleet = fakeFleet();
  const receiver = ssfReceiver({ ...options, fleet });
  const errors: Error[] = [];
  receiver.on('error', (err) => errors.push(err));
  const url = await serve(t, receiver.handler);
  const token = await revoke('retry-me');
  fleet.failNext(1);
  const first = await push(url, token);
  t.equal(first.status, 503);
  t.equal(first.json?.['err'], undefined, 'not an RFC 8935 error: the SET was fine');
  t.equal(errors.length, 1);
  t.equal((await push(url, token)).status, 202);
  t.equal(fleet.calls.length, 2, 'the retry reached the fleet');
  t.equal((await push(url, token)).status, 202);
  t.equal(fleet.calls.length, 2, 'and a third delivery is a duplicate');
});

t.test('a refused SET does not spend its jti', async (t) => {
  const { transmitter, options } = await setup();
  const fleet = fakeFleet();
  const receiver = ssfReceiver({ ...options, fleet });
  const url = await serve(t, receiver.handler);
  const wrongAudience = await transmitter.sign({
    audience: 'https://other.test/',
    subject,
    jti: 'same',
    events: { [`${CAEP}session-revoked`]: {} },
  });
  t.equal((await push(url, wrongAudience)).json?.['err'], 'invalid_audience');
  const right = await transmitter.sign({
    audience: AUDIENCE,
    subject,
    jti: 'same',
    events: { [`${CAEP}session-revoked`]: {} },
  });
  t.equal((await push(url, right)).status, 202);
  t.equal(fleet.calls.length, 1);
});

t.test('a copy arriving while the first is being applied waits for its outcome', async (t) => {
  const { options, revoke } = await setup();
  const fleet = fakeFleet();
  const receiver = ssfReceiver({ ...options, fleet });
  // A fleet that takes its time, so the copy arrives while the first is being applied.
  const revokeSubject = fleet.revokeSubject.bind(fleet);
  fleet.revokeSubject = async (...args) => {
    await new Promise((resolve) => setTimeout(resolve, 50));
    return revokeSubject(...args);
  };
  const token = await revoke('concurrent');
  fleet.failNext(1);
  // Either copy may reach the fleet first (verification is asynchronous): whichever did failed.
  const outcomes = await Promise.allSettled([receiver.receive(token), receiver.receive(token)]);
  const failed = outcomes.filter((outcome) => outcome.status === 'rejected');
  const applied = outcomes.filter((outcome) => outcome.status === 'fulfilled' && outcome.value[0]?.applied === true);
  t.equal(failed.length, 1, 'the first to reach the fleet could not be applied');
  t.equal(applied.length, 1, 'so the copy applies it');
  t.equal(fleet.calls.length, 2);
  const [again, copy] = await Promise.all([
    receiver.receive(await revoke('pair')),
    receiver.receive(await revoke('pair')),
  ]);
  t.same(
    [again[0]?.duplicate, copy[0]?.duplicate].sort(),
    [false, true],
    'once the first is applied, a copy is a duplicate',
  );
  t.equal(fleet.calls.length, 3);
});
