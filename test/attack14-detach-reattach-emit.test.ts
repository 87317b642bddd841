// Attack: detach() an attachment while one of its connections is held by a decision in flight (so
// its emit wrapper lingers), attach() the same server again, let the held decision allow, then
// detach() the second attachment with nothing held. Each attachment restores only "its" emit when
// it is on top, so the first wrapper is left installed for good: node's emit is never put back.
// A correct library leaves node's own emit on the server once every attachment is detached and no
// connection is held (the contract its own detach() tests assert).
// Attack class: lifecycle/teardown leftovers (interception installed and never removed).
import t from 'tap';
import { attach } from '../dist/index.js';
import { heldByRecheck } from './helpers/attached-tls';
import { delay } from './helpers/mtls';

t.test('detach, re-attach, release, detach again: node emit is back', async (t) => {
  const attached = await heldByRecheck(t);
  const c = attached.connection;
  const nodeEmit = Object.getPrototypeOf(attached.server).emit;
  c.attachment.detach();
  const second = attach(attached.server, { ca: attached.pki.ca.rootCert, intermediates: attached.pki.ca.issuerChain });
  attached.answer(true);
  await delay(100);
  t.equal(c.socket.destroyed, false, 'the in-flight decision allowed it');
  second.detach();
  t.equal(attached.server.emit, nodeEmit, 'node emit is back once every attachment is detached');
});
