// detach() stops the attached tier's tracking. What it leaves behind must never be a connection held
// for good (nothing would decide it again) nor one that passes data against a denial: a connection
// allowed at that moment stays open, a decision in flight still concludes (and cuts on a denial,
// whatever destroyOnDeny says), and one held with no decision in force is closed (ERR_CTLS_DETACHED).
import t, { type Test } from 'tap';
import { reauthorize, type Decision, type Policy } from '../dist/index.js';
import { attachedServer, heldByRecheck, type AttachedConnection, type AttachSettings } from './helpers/attached-tls';
import { delay, codeOf } from './helpers/mtls';

/** An attached connection, admitted by its first decision or (admitted: false) with it pending. */
async function attachedPair(
  t: Test,
  policy: Policy,
  settings: AttachSettings = {},
  admitted = true,
): Promise<AttachedConnection> {
  const server = await attachedServer(t, policy, settings);
  return admitted ? server.connect() : server.connectPending();
}

/** Whether the server's side closes within two seconds. */
async function closesSoon(c: AttachedConnection): Promise<boolean> {
  return Promise.race([c.closed.then(() => true), delay(2_000).then(() => false)]);
}

/** Waits until `received()` reads `expected`, or two seconds. */
async function until(received: () => string, expected: string): Promise<string> {
  const deadline = Date.now() + 2_000;
  while (received() !== expected && Date.now() < deadline) await delay(5);
  return received();
}

t.test('a connection allowed at detach() stays open and passes data, untracked', async (t) => {
  let allow = true;
  const c = await attachedPair(t, () => allow);
  c.attachment.detach();
  allow = false;
  c.client.write('after');
  t.equal(await until(c.delivered, 'after'), 'after');
  t.equal(c.socket.destroyed, false);
  t.same(c.attachment.connections(), [], 'nothing tracked');
});

t.test('a decision in flight at detach() concludes: an allow delivers what it held', async (t) => {
  let answer: (allow: boolean) => void = () => {};
  const c = await attachedPair(t, () => new Promise<boolean>((resolve) => (answer = resolve)), {}, false);
  t.equal(c.attachment.connections()[0]?.decision, null, 'the first decision is pending');
  c.client.write('held');
  await delay(100);
  t.equal(c.delivered(), '', 'held while the decision is pending');
  c.attachment.detach();
  answer(true);
  t.equal(await until(c.delivered, 'held'), 'held');
  t.equal(c.socket.destroyed, false);
});

t.test('a denial in flight at detach() cuts the connection even with destroyOnDeny: false', async (t) => {
  let allow = true;
  let answer: (allow: boolean) => void = () => {};
  const c = await attachedPair(t, () => (allow ? true : new Promise<boolean>((resolve) => (answer = resolve))), {
    // No re-check of its own: only the manual one below decides while detach() runs.
    reauthorize: { every: 0, onExpiry: false },
  });
  allow = false;
  const decided = reauthorize(c.socket, { reason: 'test', destroyOnDeny: false });
  await delay(50);
  c.attachment.detach();
  answer(false);
  t.match(await decided, { allow: false });
  t.ok(await closesSoon(c), 'closed');
  t.equal(codeOf(c.error()), 'ERR_CTLS_DEAUTHORIZED');
});

t.test('a connection whose decision lapsed is closed by detach(), not held for good', async (t) => {
  // No re-check at all: only the lapse holds it, and nothing after detach() could release it.
  const c = await attachedPair(t, () => ({ allow: true, ttlMs: 300 }), { reauthorize: { every: 0, onExpiry: false } });
  c.client.write('a');
  t.equal(await until(c.delivered, 'a'), 'a');
  await delay(500);
  c.client.write('b');
  await delay(100);
  t.equal(c.delivered(), 'a', 'held once lapsed');
  c.attachment.detach();
  t.ok(await closesSoon(c), 'closed');
  t.equal(codeOf(c.error()), 'ERR_CTLS_DETACHED');
  t.match(c.error()?.message, /had lapsed/);
  t.equal(c.delivered(), 'a', 'what was held was never delivered');
});

t.test('a denial kept open is closed by detach()', async (t) => {
  let allow = true;
  const c = await attachedPair(t, () => allow);
  allow = false;
  const denied: Decision = await reauthorize(c.socket, { reason: 'test', destroyOnDeny: false });
  t.equal(denied.allow, false);
  c.client.write('x');
  await delay(100);
  t.equal(c.socket.destroyed, false, 'kept open, held');
  c.attachment.detach();
  t.ok(await closesSoon(c), 'closed');
  t.equal(codeOf(c.error()), 'ERR_CTLS_DETACHED');
  t.match(c.error()?.message, /denied and kept open/);
  t.equal(c.delivered(), '');
});

t.test('a request node parses while a decision in flight at detach() holds waits for that decision', async (t) => {
  // node's HTTP parsers read the TLS handle natively and raise 'request' from bytes decrypted before
  // a hold began: the emit wrapper defers it. detach() must not drop that while a decision is in flight.
  for (const allowAtEnd of [true, false]) {
    await t.test(allowAtEnd ? 'allowed' : 'denied', async (t) => {
      // The decision lapses and its expiry re-check waits on the policy: the connection is held.
      const attached = await heldByRecheck(t);
      const c = attached.connection;
      const handled: string[] = [];
      attached.server.on('request', (req: { id: string }) => handled.push(req.id));
      c.attachment.detach();
      attached.server.emit('request', { id: 'during', socket: c.socket }, {});
      await delay(50);
      t.same(handled, [], 'no handler runs while the decision is in flight');
      attached.answer(allowAtEnd);
      await delay(100);
      t.same(handled, allowAtEnd ? ['during'] : [], allowAtEnd ? 'handed over once allowed' : 'never handed over');
      if (allowAtEnd) {
        attached.server.emit('request', { id: 'after', socket: c.socket }, {});
        t.same(handled, ['during', 'after'], 'later requests pass at once');
      } else t.ok(c.socket.destroyed, 'the denial cut it');
      t.equal(attached.server.emit, Object.getPrototypeOf(attached.server).emit, 'node emit is back');
    });
  }
});

t.test('detach() with nothing held puts node emit back at once', async (t) => {
  const attached = await attachedServer(t, () => true);
  await attached.connect();
  t.not(attached.server.emit, Object.getPrototypeOf(attached.server).emit, 'wrapped while attached');
  attached.attachment.detach();
  t.equal(attached.server.emit, Object.getPrototypeOf(attached.server).emit);
});

t.test('after detach() a trust or policy change follows nothing: no subscription, no sweep', async (t) => {
  const attached = await attachedServer(t, () => true);
  const c = await attached.connect();
  attached.attachment.detach();
  let subscribed = 0;
  const reloading: Policy = {
    evaluate: () => ({ allow: false, reason: 'reloaded' }),
    onChange: () => {
      subscribed++;
      return () => {};
    },
  };
  t.same(await attached.attachment.setPolicy(reloading), [], 'no connection re-decided');
  t.equal(subscribed, 0, "the closed engine does not subscribe to the policy's reloads");
  attached.pki.ca.revoke(attached.pki.client.serial);
  t.same(await attached.attachment.setCrl(await attached.pki.ca.crls()), [], 'a CRL change re-decides nothing');
  c.client.write('still');
  t.equal(await until(c.delivered, 'still'), 'still', 'the connection allowed at detach() still passes data');
});
