// Attack: behind an app's SNICallback, REST on node:https (lib/http/node-server-trust.ts) judges a
// resumed TLS 1.3 session under the context the callback was *last seen* choosing for its name,
// learnt at a full handshake's first request. When the app rotates the context it answers for a
// name (a tenant drops a CA, its context is rebuilt without it, or the tenant is removed and the
// callback answers an error), nothing is learnt until some client completes a full handshake under
// the new context and makes a request (never, for a removed tenant); until then every resumed
// session for that name is judged under the old context's CAs. A client the new context
// refuses (its full handshake fails in node) resumes an old session and is served 200, though
// docs/api.md says a resumed client gets no more than a full handshake under its name would give it
// (under addContext(), where the library recomputes node's selection, the same rotation denies it).
//
// The fix: do not trust a learnt choice across a change the library cannot see: ask the app's
// SNICallback again for the resumed connection's name (it is called with (name, cb); REST already
// awaits the policy) and judge under its answer, or deny resumed sessions whose learnt choice
// predates the most recent full handshake for that name that chose differently (including failed
// ones: learn at the handshake, e.g. from 'secureConnection'/tlsClientError, not at the first request).
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, statusAndBody, type Reply } from './helpers/https-resumption';

function request(t: Test, port: number, session?: Buffer): Promise<Reply<string>> {
  const servername = 'tenant.localhost';
  return tlsGet(t, { port, servername, session, read: statusAndBody, refused: 'handshake refused' });
}

for (const rotation of ['a context without the CA', 'an error (the tenant is removed)'] as const) {
  t.test(`a resumed session is not served after the app's SNICallback answers ${rotation}`, async (t) => {
    const identity = { key: certs.serverKey, cert: certs.serverChain };
    const before = tls.createSecureContext({ ...identity, ca: certs.ca });
    const after = tls.createSecureContext({ ...identity, ca: certs.wrongCa });
    let rotated = false;
    const { port } = await serveHttps(t, {
      tls: {
        ca: certs.wrongCa,
        SNICallback: (_name, cb) => {
          if (!rotated) cb(null, before);
          else if (rotation === 'a context without the CA') cb(null, after);
          else cb(new Error('no such tenant'));
        },
      },
      answer: answerResumed,
    });

    const first = await request(t, port);
    t.equal(first.status, '200 resumed=false', 'a full handshake under the first context is served');
    t.ok(first.session, 'and gets a session');
    rotated = true;
    const full = await request(t, port);
    t.notMatch(full.status, /^200/, `a full handshake now is refused by node (${full.status})`);
    const resumed = await request(t, port, first.session);
    t.notMatch(resumed.status, /^200/, `so is a resumed session (${resumed.status})`);
  });
}
