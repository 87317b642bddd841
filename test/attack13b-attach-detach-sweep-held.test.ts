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
import * as tls from 'node:tls';
import { attach } from '../dist/index.js';
import { listen, waitFor } from './helpers/owned';
import { makePki, delay } from './helpers/mtls';

for (const change of ['setCa', 'setPolicy'] as const) {
  t.test(`${change}() then detach() in the same turn leaves no allowed connection held for good`, async (t) => {
    const pki = await makePki();
    let received = '';
    const server = tls.createServer(
      { key: pki.server.key, cert: pki.server.chain, ca: pki.ca.rootCert, requestCert: true, rejectUnauthorized: true },
      (socket) => socket.on('data', (chunk: Buffer) => (received += chunk.toString())),
    );
    const attachment = attach(server, { ca: pki.ca.rootCert, intermediates: pki.ca.issuerChain });
    t.teardown(() => attachment.detach());
    const port = await listen(t, server);
    const decided = waitFor<[unknown, tls.TLSSocket]>(server, 'decision');
    const client = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: pki.ca.rootCert,
      key: pki.client.key,
      cert: pki.client.chain,
    });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    await waitFor(client, 'secureConnect');
    const [, socket] = await decided;
    client.write('before;');
    const deadline = Date.now() + 2_000;
    while (received !== 'before;' && Date.now() < deadline) await delay(5);
    t.equal(received, 'before;', 'the allowed connection carries data');

    // Same trust, same (absent) policy: nothing about this peer changed.
    if (change === 'setCa') void attachment.setCa(pki.ca.rootCert);
    else void attachment.setPolicy(() => true);
    attachment.detach();

    client.write('after;');
    const until = Date.now() + 700;
    while (received !== 'before;after;' && !socket.destroyed && Date.now() < until) await delay(10);
    t.ok(
      received === 'before;after;' || socket.destroyed,
      'the connection is either open (its data reaches the app) or closed, never held for good',
    );
    t.equal(received, 'before;after;', 'an allowed connection stays open after detach(), as documented');
  });
}
