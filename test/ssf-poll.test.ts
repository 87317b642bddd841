// The RFC 8936 poll client against the development transmitter: it receives queued SETs, applies
// them, acknowledges them, reports a bad one in setErrs, retries a failing transmitter, leaves a SET
// it could not apply for redelivery, and stops cleanly.
import t, { type Test } from 'tap';
import { startDevTransmitterServer } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { AUDIENCE, fakeFleet, waitFor } from './helpers/ssf';

const user = (n: number) => ({ format: 'email', email: `user${n}@example.com` }) as const;

async function setup(t: Test, authorization?: string) {
  const server = await startDevTransmitterServer({ audience: AUDIENCE, ...(authorization ? { authorization } : {}) });
  t.teardown(() => server.close());
  const fleet = fakeFleet();
  // Keys from the transmitter's JWKS endpoint, as a deployment would.
  const receiver = ssfReceiver({ issuer: server.url, audience: AUDIENCE, jwksUrl: `${server.url}/jwks.json`, fleet });
  t.teardown(() => receiver.close());
  const queue = async (n: number, audience = AUDIENCE) => {
    const jti = `set-${n}`;
    const token = await server.transmitter.sign({
      audience,
      jti,
      subject: user(n),
      events: { 'https://schemas.openid.net/secevent/caep/event-type/session-revoked': {} },
    });
    server.enqueue(token, jti);
    return jti;
  };
  return { server, fleet, receiver, queue };
}

t.test('receives, applies, acknowledges; a refused SET goes back in setErrs', async (t) => {
  const { server, fleet, receiver, queue } = await setup(t, 'Bearer poll-secret');
  for (let n = 1; n <= 5; n++) await queue(n);
  await queue(6, 'https://someone-else.test/');
  const handle = receiver.poll({ url: `${server.url}/poll`, auth: 'Bearer poll-secret', interval: 50, maxEvents: 2 });
  await waitFor(() => server.pending.size === 0, 5_000, 'the queue to drain');
  t.same([...server.acknowledged].sort(), ['set-1', 'set-2', 'set-3', 'set-4', 'set-5']);
  t.same(server.reported, { 'set-6': { err: 'invalid_audience', description: 'the SET is for another audience' } });
  t.equal(fleet.calls.length, 5);
  t.ok(handle.running);
  await handle.stop();
  t.notOk(handle.running);
  const polls = server.polls;
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.equal(server.polls, polls, 'no request after stop()');
});

t.test('a failing transmitter is retried, with the error reported', async (t) => {
  const { server, fleet, receiver, queue } = await setup(t);
  const errors: Array<{ code?: string }> = [];
  receiver.on('error', (err) => errors.push(err as { code?: string }));
  await queue(1);
  server.failNextPolls(2);
  const handle = receiver.poll({ url: `${server.url}/poll`, interval: 20, maxBackoff: 50 });
  await waitFor(() => server.acknowledged.length === 1, 5_000, 'the acknowledgement');
  await handle.stop();
  t.equal(fleet.calls.length, 1);
  t.equal(errors.length, 2);
  t.ok(errors.every((err) => err.code === 'ERR_CTLS_SSF_TRANSMITTER'));
});

t.test('a SET the fleet could not apply is not acknowledged, and applied when delivered again', async (t) => {
  const { server, fleet, receiver, queue } = await setup(t);
  receiver.on('error', () => {});
  fleet.failNext(1);
  await queue(1);
  const handle = receiver.poll({ url: `${server.url}/poll`, interval: 20 });
  await waitFor(() => server.acknowledged.length === 1, 5_000, 'the acknowledgement');
  await handle.stop();
  t.equal(fleet.calls.length, 2, 'tried, failed, tried again');
  t.same(server.reported, {}, 'our failure is not reported as the SET being bad');
});

t.test('SETs none of which could be applied back off instead of being asked for again at once', async (t) => {
  const { server, fleet, receiver, queue } = await setup(t);
  receiver.on('error', () => {});
  fleet.failNext(1_000);
  await queue(1);
  const handle = receiver.poll({ url: `${server.url}/poll`, interval: 100, maxBackoff: 400 });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await handle.stop();
  // 100 + 200 + 400 + 400 ms of waits: a handful of polls, not a loop as fast as loopback allows.
  t.ok(server.polls <= 8, `a handful of polls in 1 s (made ${server.polls})`);
  t.same(server.acknowledged, [], 'still not acknowledged: it comes again');
});

t.test('stop() flushes acknowledgements still owed', async (t) => {
  const { server, receiver, queue } = await setup(t);
  await queue(1);
  let stopping: Promise<void> | undefined;
  receiver.on('event', () => {
    // Stop while the SET is being taken: its ack has not gone out with a request yet.
    stopping ??= handle.stop();
  });
  const handle = receiver.poll({ url: `${server.url}/poll`, interval: 20 });
  await waitFor(() => stopping !== undefined, 5_000, 'the event');
  await stopping;
  t.same(server.acknowledged, ['set-1']);
});

t.test('options are checked', async (t) => {
  const { receiver } = await setup(t);
  t.throws(() => receiver.poll({ url: 'not a url' }), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(() => receiver.poll({ url: 'http://x/', interval: -1 }), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(() => receiver.poll({ url: 'http://x/', auth: 3 as unknown as string }), {
    code: 'ERR_CTLS_INVALID_OPTION',
  });
});
