// A batch of chain verifications (verifyChains on libuv's pool, for a trust change's sweep) is
// controlled alone: its promise carries abandon(), which stops that batch and no other (a
// context's abandonBatches() stops every batch of the context, another engine's included), and
// started(), the workers the pool has begun to run. The sweep gives up on a batch that the pool
// has not begun to run after 50 ms, however many chains it has, and waits for one that runs,
// however slow its first chain, up to its cap; before, a batch of 10,000 chains held the sweep's
// connections up to 10 s on a pool busy with the app's own work.
import t, { type Test } from 'tap';

import { createSecureContext, contextHandle, type HorizonBatch } from '../dist/tls/context.js';
import { withinWait } from '../dist/authz/verify-cache.js';
import { derChain } from './helpers/owned';
import { makePki } from './helpers/mtls';

type Item = [Buffer[], 'sslclient' | 'sslserver'];

t.test('abandon() stops its own batch, and another batch of the same context goes on', async (t) => {
  const pki = await makePki();
  const context = createSecureContext({ ca: pki.ca.rootCert }, true);
  const handle = contextHandle(context);
  const chain = derChain(pki.client.chain);
  const items: Item[] = Array.from({ length: 2000 }, () => [chain, 'sslclient']);
  // One thread each: the first batch may hold one, the second one more under a limit of two.
  const stopped = handle.verifyChains(items, 1)!;
  const other = handle.verifyChains(items.slice(0, 300), 2)!;
  t.ok(stopped !== undefined && other !== undefined, 'both batches started');
  stopped.abandon();
  const [stoppedAnswers, otherAnswers] = await Promise.all([stopped, other]);
  t.ok(stoppedAnswers.includes(null), 'the abandoned batch skipped chains');
  t.ok(
    otherAnswers.every((answer) => answer?.ok === true),
    'the other batch of the context verified every chain',
  );
  stopped.abandon();
  t.pass('abandon() after the end does nothing');
});

t.test('an empty batch has its controls too', async (t) => {
  const pki = await makePki();
  const handle = contextHandle(createSecureContext({ ca: pki.ca.rootCert }, true));
  const empty = handle.verifyChains([], 2)!;
  t.same(await empty, []);
  t.equal(empty.started(), 0, 'no worker ran for it');
  empty.abandon();
});

// The sweep's wait does not keep the process alive (its poll is unref'd: a real batch's pool work
// does); these fake batches have no pool work, so each test keeps the loop alive itself.
function keepAlive(t: Test): void {
  const timer = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(timer));
}

/** A batch whose answer comes when `release` is called; started() as `started` says. */
function fakeBatch(started: () => number): HorizonBatch & { release(): void; abandoned: boolean } {
  let release!: () => void;
  const outcomes = new Promise<[]>((resolve) => (release = () => resolve([])));
  const batch = {
    outcomes,
    abandoned: false,
    abandon() {
      batch.abandoned = true;
    },
    started,
    release,
  };
  return batch;
}

t.test('the sweep gives up on a batch the pool has not begun to run, long before its cap', async (t) => {
  keepAlive(t);
  let looks = 0;
  const waiting = fakeBatch(() => {
    looks++;
    return 0;
  });
  const since = performance.now();
  t.equal(await withinWait(waiting, 60_000), undefined, 'no answer: the sweep verifies on the event loop');
  t.ok(performance.now() - since < 30_000, 'it did not wait for the cap of 60 s');
  t.ok(looks > 0, 'it looked whether the batch had started');
  waiting.release();
});

t.test('a batch that runs is waited for, however slow, up to the cap', async (t) => {
  keepAlive(t);
  // Running, with no chain done yet: a first chain that pays for sorting a large new CRL.
  const running = fakeBatch(() => 1);
  setTimeout(() => running.release(), 300);
  t.same(await withinWait(running, 60_000), [], 'its answer is used');

  const capped = fakeBatch(() => 1);
  t.equal(await withinWait(capped, 120), undefined, 'past the cap, even a running batch is given up');
  capped.release();
});

t.test("a real batch's started() counts its workers once the pool runs them", async (t) => {
  const pki = await makePki();
  const handle = contextHandle(createSecureContext({ ca: pki.ca.rootCert }, true));
  const chain = derChain(pki.client.chain);
  const batch = handle.verifyChains(
    Array.from({ length: 40 }, (): Item => [chain, 'sslclient']),
    2,
  )!;
  await batch;
  t.ok(batch.started() >= 1 && batch.started() <= 2, `its workers ran (${batch.started()})`);
  t.ok(
    (await batch).every((answer) => answer?.ok === true),
    'every chain answered',
  );
});

t.test('a failed batch is no answer', async (t) => {
  keepAlive(t);
  const failed: HorizonBatch = {
    outcomes: Promise.reject(new Error('pool gone')),
    abandon() {},
    started: () => 1,
  };
  t.equal(await withinWait(failed, 1000), undefined);
});
