// Attack: the last fix made an SNICallback that answers and then throws fail the connection in the
// library's own server (lib/tls/sni.ts): "a handshake must not go on under the answer of a callback
// that failed". REST on node:https re-asks the app's SNICallback for a resumed session's name
// (lib/http/node-server-trust.ts askSniCallback) and still keeps the first answer when the callback
// then throws (`settle()` ignores the catch once settled). A tenant lookup that hands back the
// cached context and then fails (the tenant was removed; its bookkeeping throws) keeps serving
// resumed sessions under the stale context: the failed callback's answer admits the client.
// A correct library treats a callback that threw, before or after answering, as a failed answer and
// denies the resumed request, exactly as it does for a throw before any answer.
// Attack class: app callback misuse / swallowed error (fail-open), resumed-session authorization.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, statusAndBody, type Reply } from './helpers/https-resumption';

function request(t: Test, port: number, session?: Buffer): Promise<Reply<string>> {
  const servername = 'tenant.localhost';
  return tlsGet(t, { port, servername, session, read: statusAndBody, refused: 'handshake refused' });
}

for (const when of ['before answering', 'after answering'] as const) {
  t.test(`a resumed session is not served when the app's SNICallback throws ${when}`, async (t) => {
    const context = tls.createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca });
    let removed = false;
    const { port } = await serveHttps(t, {
      tls: {
        ca: certs.wrongCa,
        SNICallback: (_name, cb) => {
          if (!removed) return cb(null, context);
          if (when === 'after answering') cb(null, context);
          throw new Error('the tenant was removed');
        },
      },
      answer: answerResumed,
    });

    const first = await request(t, port);
    t.equal(first.status, '200 resumed=false', 'a full handshake is served');
    t.ok(first.session, 'and gets a session');
    removed = true;
    const resumed = await request(t, port, first.session);
    t.notMatch(resumed.status, /^200/, `a resumed session after the callback threw is refused (${resumed.status})`);
  });
}
