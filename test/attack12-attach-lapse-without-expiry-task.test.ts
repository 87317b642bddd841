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
import * as tls from 'node:tls';
import { attach, type DecisionEvent } from '../dist/index.js';
import { listen, waitFor } from './helpers/owned';
import { makePki, delay } from './helpers/mtls';

t.test('an attached connection passes nothing once its decision lapsed, with onExpiry: false', async (t) => {
  const pki = await makePki();
  let received = '';
  const server = tls.createServer(
    {
      key: pki.server.key,
      cert: pki.server.chain,
      ca: pki.ca.rootCert,
      requestCert: true,
      rejectUnauthorized: true,
      maxVersion: 'TLSv1.3',
    },
    (socket) => {
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    },
  );
  const attachment = attach(server, {
    ca: pki.ca.rootCert,
    intermediates: pki.ca.issuerChain,
    // A short decision and no timer at all: only a deadline in the data path can stop the bytes.
    policy: () => ({ allow: true, ttlMs: 300 }),
    reauthorize: { every: 0, onExpiry: false },
  });
  t.teardown(() => attachment.detach());
  const port = await listen(t, server);
  const admitted = waitFor<[DecisionEvent, tls.TLSSocket]>(server, 'decision');
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
  const [event] = await admitted;
  t.equal(event.outcome, 'allow');

  client.write('before');
  const deadline = Date.now() + 2_000;
  while (received !== 'before' && Date.now() < deadline) await delay(5);
  t.equal(received, 'before', 'delivered while the decision holds');

  await delay(Math.max(0, event.expiresAt - Date.now()) + 100);
  client.write('after-lapse');
  await delay(300);
  t.equal(received, 'before', 'nothing delivered once the decision lapsed');
});
