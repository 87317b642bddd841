// The attached tier holds an open HTTP/2 stream with its connection: what the peer sends on it, and
// what the app writes to it, wait while a decision is pending and pass, in order, once it allows.
// A peer that opens streams without end while held is cut, not queued without bound.
import t from 'tap';
import { reauthorize } from '../dist/index.js';
import { openCall } from './helpers/attached-http2';
import { delay } from './helpers/mtls';

t.test('a held stream delivers, in order, what waited once the decision allows', async (t) => {
  const call = await openCall(t, () => true);
  let settle!: (allow: boolean) => void;
  const decided = call.attachment.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  await delay(50);
  call.upload.write('during;');
  call.serverStream().write('reply-during;');
  await delay(200);
  t.equal(call.received(), 'before;', 'the peer data waits');
  t.equal(call.answered(), '', 'and so does the reply');
  settle(true);
  t.match(await decided, [{ allow: true }]);
  call.upload.write('after;');
  call.serverStream().write('reply-after;');
  const deadline = Date.now() + 5_000;
  while (
    (call.received() !== 'before;during;after;' || call.answered() !== 'reply-during;reply-after;') &&
    Date.now() < deadline
  )
    await delay(10);
  t.equal(call.received(), 'before;during;after;', 'every byte the peer sent, in order');
  t.equal(call.answered(), 'reply-during;reply-after;', 'every byte the app wrote, in order');
});

t.test('a peer that opens streams without end on a held connection is cut', async (t) => {
  let allow = true;
  const call = await openCall(t, () => allow);
  allow = false;
  const socket = call.socket;
  const decision = await reauthorize(socket, { destroyOnDeny: false });
  t.equal(decision.allow, false);
  // Streams the session parsed while held (a listener on the session itself sees them all).
  let parsed = 0;
  call.serverSession().on('stream', () => parsed++);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  for (let i = 0; i < 1100 && !call.session.destroyed; i++) {
    const stream = call.session.request({ ':path': `/s${i}` });
    stream.on('error', () => {});
    stream.end();
    if (i % 100 === 99) await delay(10);
  }
  await Promise.race([closed, delay(3_000)]);
  // Node 20 and 22 read a held HTTP/2 session's frames anyway: the 1,025th waiting stream cuts the
  // connection. Node 24 stops reading it, so the streams wait in the kernel, not in memory here.
  if (parsed > 1024) {
    t.equal(socket.destroyed, true, `${parsed} streams reached the held session: the connection is closed`);
    t.match((socket as { destroyReason?: { code?: string } }).destroyReason, { code: 'ERR_CTLS_HELD_LIMIT' });
  } else {
    t.equal(socket.destroyed, false, `only ${parsed} streams reached the held session: it stays held, not cut`);
  }
});
