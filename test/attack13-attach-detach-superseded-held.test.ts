// Attack (a pending state that nothing ends; joining): detach() closes a connection held with no
// decision in force, but skips every connection that has a decision in flight, trusting that
// decision to conclude it. A decision in flight that was started before a newer one concluded is
// superseded: if it allows, #finish drops it without concluding. So: a slow re-check (A) is in
// flight; a second re-check (B, destroyOnDeny: false, so not joined to A) denies and keeps the
// connection open, held; detach() now skips the connection because A is pending; A then allows,
// is superseded, changes nothing, and the connection stays held for good, untracked: nothing will
// ever decide it again, and it is never closed (the peer's socket and every byte it sends are
// held until the peer gives up). The documented contract: after detach() no connection is held
// for good; one held with no decision in force is closed with ERR_CTLS_DETACHED.
//
// A correct library closes it once its last decision in flight settles without opening it
// (ERR_CTLS_DETACHED), whether that decision concluded or was superseded.
//
// Attack class: pending states are budgets (12), joining (3).
import t from 'tap';
import { reauthorize } from '../dist/index.js';
import { attachedConnection, type AttachedConnection } from './helpers/attached-tls';
import { delay, codeOf } from './helpers/mtls';

/** Whether the server's side closes within two seconds. */
async function closesSoon(c: AttachedConnection): Promise<boolean> {
  return Promise.race([c.closed.then(() => true), delay(2_000).then(() => false)]);
}

t.test('a superseded allow in flight at detach() does not leave a denied connection held for good', async (t) => {
  // Answers in order: the handshake allows; re-check A allows, late; re-check B denies at once.
  let answerA: (allow: boolean) => void = () => {};
  const answers: Array<() => boolean | Promise<boolean>> = [
    () => true,
    () => new Promise<boolean>((resolve) => (answerA = resolve)),
    () => false,
  ];
  const c = await attachedConnection(t, () => (answers.shift() ?? (() => false))(), {
    policyTimeout: 5_000,
    reauthorize: { every: 0, onExpiry: false },
  });
  const a = reauthorize(c.socket, { reason: 'A' });
  await delay(20);
  const b = await reauthorize(c.socket, { reason: 'B', destroyOnDeny: false });
  t.equal(b.allow, false, 'B denied, connection kept open');
  c.client.write('x');
  await delay(50);
  t.equal(c.socket.destroyed, false, 'kept open, held');
  c.attachment.detach();
  answerA(true);
  t.match(await a, { allow: true }, 'A allowed, after B concluded');
  t.ok(await closesSoon(c), 'closed rather than held for good');
  t.equal(codeOf(c.error()), 'ERR_CTLS_DETACHED');
  t.equal(c.delivered(), '', 'nothing held was delivered');
});
