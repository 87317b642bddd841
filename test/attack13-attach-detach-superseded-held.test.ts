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
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { attach, reauthorize, type AttachOptions, type Attachment } from '../dist/index.js';
import { listen, waitFor } from './helpers/owned';
import { makePki, delay, codeOf } from './helpers/mtls';

interface Detachable {
  attachment: Attachment;
  client: tls.TLSSocket;
  /** The server's side, once its handshake decision allowed it. */
  socket: tls.TLSSocket;
  /** What the server's app read so far. */
  received: () => string;
  /** The error the server's side was destroyed with, if any. */
  error: () => Error | undefined;
  /** Settles at the server side's 'close' event (node emits 'error' before it). */
  closed: Promise<void>;
}

/**
 * An attached mTLS pair. With `admitted: false` it returns once the client's handshake is done,
 * with the server's side as the attachment tracks it (its first decision may still be pending).
 */
async function attachedPair(t: Test, options: Partial<AttachOptions>, admitted = true): Promise<Detachable> {
  const pki = await makePki();
  let received = '';
  let error: Error | undefined;
  const server = tls.createServer(
    {
      key: pki.server.key,
      cert: pki.server.chain,
      ca: pki.ca.rootCert,
      requestCert: true,
      rejectUnauthorized: true,
      maxVersion: 'TLSv1.3',
    },
    (socket) => socket.on('data', (chunk: Buffer) => (received += chunk.toString())),
  );
  const attachment = attach(server, { ca: pki.ca.rootCert, intermediates: pki.ca.issuerChain, ...options });
  t.teardown(() => attachment.detach());
  const port = await listen(t, server);
  const decided = admitted ? waitFor<[unknown, tls.TLSSocket]>(server, 'decision') : undefined;
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
    maxVersion: 'TLSv1.3',
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect');
  let socket: tls.TLSSocket;
  if (decided !== undefined) [, socket] = await decided;
  else {
    const deadline = Date.now() + 2_000;
    while (attachment.connections().length === 0 && Date.now() < deadline) await delay(5);
    socket = attachment.connections()[0]!.socket;
  }
  socket.on('error', (err) => (error ??= err));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { attachment, client, socket, received: () => received, error: () => error, closed };
}

/** Whether the server's side closes within two seconds. */
async function closesSoon(c: Detachable): Promise<boolean> {
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
  const c = await attachedPair(t, {
    policy: () => (answers.shift() ?? (() => false))(),
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
  t.equal(c.received(), '', 'nothing held was delivered');
});
