// Attack: behind an app's SNICallback, a resumed TLS 1.3 session is judged under the context the
// callback was last seen choosing for its name, kept as a WeakRef to that native context
// (lib/http/node-server-trust.ts learn()); once it is collected, the resumed session is denied
// certificate-chain-unknown. An SNICallback that makes its context per call
// (`cb(null, tls.createSecureContext({ ...tenant }))`, as many examples write it)
// leaves nothing holding that context once the full handshake's connection is gone: after the next
// garbage collection every resumed session of that tenant is refused 403, at a time no one chose
// (a major GC), while its full handshakes are served.
//
// The fix: remember what judges the name, not the native object: keep the choice's trust (the
// recorded { ca, crl } or the library context made from it, as byNativeContext already computes)
// with the learnt name, so a collected context still answers with the same CAs; or, as for the
// other resumption reports, record the verifying trust per session.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, statusAndBody, type Reply } from './helpers/https-resumption';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function request(t: Test, port: number, session?: Buffer): Promise<Reply<string>> {
  return tlsGet(t, { port, servername: 'tenant.localhost', session, read: statusAndBody, closeAfter: 0 });
}

t.test('an SNICallback making its context per call: resumed sessions survive a GC', async (t) => {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const { port } = await serveHttps(t, {
    tls: {
      ca: certs.wrongCa,
      SNICallback: (_name, cb) => cb(null, tls.createSecureContext({ ...identity, ca: certs.ca })),
    },
    answer: answerResumed,
    setup: (server) => (server.keepAliveTimeout = 1),
  });

  const first = await request(t, port);
  t.equal(first.status, '200 resumed=false', 'a full handshake is served');
  const before = await request(t, port, first.session);
  t.equal(before.status, '200 resumed=true', 'and its resumed session');
  await new Promise((resolve) => setTimeout(resolve, 200)); // the server side of both connections closes
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const after = await request(t, port, first.session);
  t.equal(after.status, '200 resumed=true', 'and after a garbage collection, still');
});
