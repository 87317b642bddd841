// Attack: behind an app's SNICallback, a resumed TLS 1.3 session is judged under the context the
// callback was last seen choosing for its name, kept per server in a map of at most 1024 names,
// oldest out (lib/http/node-server-trust.ts learn()); a name not in it is denied
// certificate-chain-unknown. Any client whose requests reach REST (here another tenant's client,
// the server's default CA) fills the map with 1024 names of its choosing (SNI is free text; the
// callback answers unknown names with the default context, which is learnt too), and every
// legitimate tenant's resumed session is then refused 403 although its full handshakes are served.
// node and other clients keep offering the cached session after a 403, so the denial lasts the
// session's lifetime, and the attacker repeats it at will.
//
// The fix: do not let other connections evict what a session needs: record the choice per session
// (its ticket / session id, as for TLS 1.2) rather than per name, or keep per name only names the
// app's SNICallback answered with a context of its own (not the default), never evicting a
// name whose context is still alive (WeakRef deref() !== undefined).
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, statusAndBody, type Reply } from './helpers/https-resumption';

function request(t: Test, port: number, servername: string, session?: Buffer): Promise<Reply<string>> {
  return tlsGet(t, { port, servername, session, read: statusAndBody, closeAfter: 0 });
}

t.test("other clients' server names do not evict what a tenant's resumed sessions are judged by", async (t) => {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const tenant = tls.createSecureContext({ ...identity, ca: certs.ca });
  const { port } = await serveHttps(t, {
    tls: {
      ca: certs.ca,
      SNICallback: (name, cb) => cb(null, name === 'tenant.localhost' ? tenant : undefined),
    },
    answer: answerResumed,
  });

  const first = await request(t, port, 'tenant.localhost');
  t.equal(first.status, '200 resumed=false', "the tenant's full handshake is served");
  const check = await request(t, port, 'tenant.localhost', first.session);
  t.equal(check.status, '200 resumed=true', 'and its resumed session');
  // Another client, 1024 server names.
  for (let batch = 0; batch < 1024; batch += 32) {
    await Promise.all(Array.from({ length: 32 }, (_, i) => request(t, port, `n${batch + i}.attacker.localhost`)));
  }
  const resumed = await request(t, port, 'tenant.localhost', first.session);
  t.equal(resumed.status, '200 resumed=true', "the tenant's resumed session is still served");
});
