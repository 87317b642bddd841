// Attack (stale verdict / paths around the gate): on the attached tier the data gate has no
// deadline of its own: AttachedSubject#setDeadline is a no-op, on the premise that "the engine's
// expiry task holds it". That task exists only with `reauthorize.onExpiry` (a documented option
// that may be false). With `onExpiry: false` an attached connection whose decision has lapsed
// (the policy's ttlMs / expiresAt, the certificate's notAfter) keeps delivering the peer's bytes
// to the application until the next periodic re-check, or for ever with `every: 0`. The owned
// tier holds in the same configuration (its gate closes at the deadline's millisecond, see
// test/expiry-interval.test.ts), and docs/security.md states for the attached tier that "while ...
// a decision has lapsed ... the TLS handle stops reading".
//
// A correct library holds an attached connection's data from the moment its decision lapses,
// whether or not an expiry re-check is scheduled, exactly as the owned tier does.
import t from 'tap';
import { delay } from './helpers/mtls';
import { attachedConnection } from './helpers/attached-tls';

t.test('an attached connection passes nothing once its decision lapsed, with onExpiry: false', async (t) => {
  // A short decision and no timer at all: only a deadline in the data path can stop the bytes.
  const { attachment, decision, socket, client } = await attachedConnection(t, () => ({ allow: true, ttlMs: 300 }), {
    reauthorize: { every: 0, onExpiry: false },
  });
  t.equal(decision.outcome, 'allow');
  // The premise, checked: the schedule reached attach(), so no re-check runs at the lapse and only
  // a deadline in the data path can hold what the peer sends after it.
  t.same(
    attachment.inspect().connections.map((connection) => connection.nextCheck),
    [null],
    'no re-check is scheduled for the connection',
  );
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));

  client.write('before');
  const deadline = Date.now() + 2_000;
  while (received !== 'before' && Date.now() < deadline) await delay(5);
  t.equal(received, 'before', 'delivered while the decision holds');

  await delay(Math.max(0, decision.expiresAt - Date.now()) + 100);
  client.write('after-lapse');
  await delay(300);
  t.equal(received, 'before', 'nothing delivered once the decision lapsed');
});
