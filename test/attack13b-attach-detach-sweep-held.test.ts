// Attack: a trust change (setCa / setCrl / setPolicy) holds every affected attached connection at
// once and re-decides them one hop later. If detach() runs in that same turn (an app that rotates
// its CAs or policy and then detaches, e.g. on shutdown or hand-over to another attachment), the
// sweep finds the connection no longer tracked and skips it, without releasing the sweep's own
// hold: a connection that was allowed, and that detach() promises stays open, is held for good.
// Its data never reaches the app and nothing will ever decide it again.
// A correct library either re-decides it or at least releases (or closes) it: after detach() no
// connection stays held with nothing left to release it.
// Attack class: pending states are budgets / held for good (12); straddling a trust change (2).
import t from 'tap';
import { attachedServer } from './helpers/attached-tls';
import { delay } from './helpers/mtls';

for (const change of ['setCa', 'setPolicy'] as const) {
  t.test(`${change}() then detach() in the same turn leaves no allowed connection held for good`, async (t) => {
    const server = await attachedServer(t, () => true);
    const { attachment, pki } = server;
    const c = await server.connect();
    c.client.write('before;');
    const deadline = Date.now() + 2_000;
    while (c.delivered() !== 'before;' && Date.now() < deadline) await delay(5);
    t.equal(c.delivered(), 'before;', 'the allowed connection carries data');

    // Same trust, the same answer: nothing about this peer changed.
    if (change === 'setCa') void attachment.setCa(pki.ca.rootCert);
    else void attachment.setPolicy(() => true);
    attachment.detach();

    c.client.write('after;');
    const until = Date.now() + 700;
    while (c.delivered() !== 'before;after;' && !c.socket.destroyed && Date.now() < until) await delay(10);
    t.ok(
      c.delivered() === 'before;after;' || c.socket.destroyed,
      'the connection is either open (its data reaches the app) or closed, never held for good',
    );
    t.equal(c.delivered(), 'before;after;', 'an allowed connection stays open after detach(), as documented');
  });
}
