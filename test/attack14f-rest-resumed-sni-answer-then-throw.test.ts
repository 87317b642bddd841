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
import { serveHttps, tlsClient, tlsGet, answerResumed, statusAndBody, type Reply } from './helpers/https-resumption';

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

// Found after the review: a second answer on a later tick, after the first was taken, left the
// first in force. node:tls destroys such a connection (ERR_MULTIPLE_CALLBACK); so must REST: the
// resumed connection is cut, and a request sent after the second answer gets no answer.
t.test('a resumed connection is cut when the SNICallback answers again on a later tick', async (t) => {
  const context = tls.createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca });
  let resumedAsk = false;
  let secondAnswered!: () => void;
  const second = new Promise<void>((resolve) => (secondAnswered = resolve));
  const { port } = await serveHttps(t, {
    tls: {
      ca: certs.wrongCa,
      SNICallback: (_name, cb) => {
        cb(null, context);
        if (!resumedAsk) return;
        setTimeout(() => {
          cb(null, context);
          secondAnswered();
        }, 50);
      },
    },
    answer: answerResumed,
  });

  const first = await request(t, port);
  t.equal(first.status, '200 resumed=false', 'a full handshake is served');
  resumedAsk = true;
  const client = tlsClient(t, { port, servername: 'tenant.localhost', session: first.session });
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  let received = '';
  client.setEncoding('latin1');
  client.on('data', (chunk: string) => (received += chunk));
  await new Promise<void>((resolve) => client.once('secureConnect', () => resolve()));
  t.ok(client.isSessionReused(), 'the session resumed');
  client.write('GET / HTTP/1.1\r\nHost: tenant.localhost\r\n\r\n');
  await second;
  // The first request may have been answered under the first answer, as node:tls would have.
  const answeredBefore = received;
  if (!client.destroyed) client.write('GET / HTTP/1.1\r\nHost: tenant.localhost\r\n\r\n');
  await closed;
  t.equal(received, answeredBefore, 'nothing is answered after the second answer');
  t.ok(
    received === '' || /^HTTP\/1\.1 200/.test(received),
    `before it, at most the first request (${JSON.stringify(received.slice(0, 12))})`,
  );
});
