// Attack (straddling / pending states are budgets): a re-check that needs no fresh certificate
// (a manual reauthorize(), or the periodic one) starts while the connection's decision is still
// valid, so it puts no hold on the data gate (holdsData: the current decision has not lapsed). The
// policy takes a moment; meanwhile the decision's deadline passes and the gate closes by itself
// (DataGate#closed compares the clock with the deadline), so the peer's next bytes are kept. The
// re-check then allows: #conclude sets the new deadline and calls release() for HOLD_LAPSED and
// for its own decision hold, neither of which was ever taken, so release() reports "did not
// open" and nobody calls flushHeld(). The gate is open but the held bytes stay in it: _read()
// returned early while the gate was closed, so the reader waits for a push that never comes, and
// every later byte queues behind them (mustHold: older plaintext still waits). With
// `reauthorize.onExpiry: false` no expiry re-check ever comes to flush them, and each later
// re-check concludes the same way: the connection is wedged for good, and its held bytes stay
// counted against the server's maxHeldBytesTotal (a budget that creeps with every such
// connection until honest peers are cut).
//
// A correct library delivers the held bytes, in order, as soon as an allowing decision puts the
// gate back in force, however the gate came to be closed (a hold or a passed deadline).
import t from 'tap';
import { reauthorize } from '../dist/index.js';
import { makePki, mtlsOptions, startServer, connectPair, Received, delay } from './helpers/mtls';

t.test('bytes held by a lapse during a re-check are delivered once the re-check allows', async (t) => {
  const pki = await makePki();
  let calls = 0;
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      policy: async () => {
        calls++;
        // The admission: a short-lived allow. The re-check: slow, then a long allow.
        if (calls === 1) return { allow: true, ttlMs: 300 };
        await delay(700);
        return { allow: true, ttlMs: 60_000 };
      },
      policyTimeout: 2_000,
      reauthorize: { every: 0, onExpiry: false },
    }),
  );
  const { client, socket } = await connectPair(t, server, port, pki);
  const received = new Received(socket);
  client.write('before');
  await received.until(6);
  const lapsesAt = socket.decision!.expiresAt;

  // Started while the decision is still valid: this re-check holds nothing.
  t.ok(Date.now() < lapsesAt - 100, 'the re-check starts before the lapse');
  const recheck = reauthorize(socket);
  // The deadline passes while the policy thinks; the peer writes then.
  await delay(Math.max(0, lapsesAt - Date.now()) + 50);
  client.write('-during-');
  const decision = await recheck;
  t.equal(decision.allow, true, `the re-check allows (${decision.reason})`);
  t.ok(decision.expiresAt > Date.now() + 10_000, 'a long decision is in force');

  client.write('after');
  try {
    await received.until(6 + 8 + 5, 1_500);
  } catch {
    // reported below
  }
  t.equal(received.text(), 'before-during-after', 'every byte is delivered, in order, under the new decision');
  t.equal(socket.destroyed, false);
});
