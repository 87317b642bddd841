// Attack: node takes an SNICallback's answer as `context.context || context` (lib/_tls_wrap.js
// loadSNI), so an app may answer with the native context itself (`secureContext.context`, the form
// older code and some SNI helper libraries hand back). Full handshakes are served (REST finds that
// native context on the handle and its recorded CAs). But a resumed session's ask
// (lib/http/node-server-trust.ts askSniCallback()) reads only `answer.context`: the native context
// has none, the answer counts as "no context object", and every resumed session is denied 403
// certificate-chain-unknown, while node resumed it. Likewise a falsy answer other than
// undefined/null (`cb(null, false)`, `cb(null, map.get(name) || '')`): node takes the default
// context (`if (context)`), the ask counts it as a failure and denies.
//
// The fix: take the answer as node does: falsy = default context, else `answer.context || answer` (the
// native context then has its record in node-context-cas.ts), deny only what node would not
// accept either.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, statusAndBodyIf200, type Reply } from './helpers/https-resumption';

function request(t: Test, port: number, session?: Buffer): Promise<Reply<string>> {
  return tlsGet(t, { port, servername: 'tenant.localhost', session, read: statusAndBodyIf200, closeAfter: 20 });
}

for (const answer of ['a native context', 'false (node: the default context)'] as const) {
  t.test(`a resumed session is served when the SNICallback answers ${answer}, as node takes it`, async (t) => {
    const identity = { key: certs.serverKey, cert: certs.serverChain };
    const tenant = tls.createSecureContext({ ...identity, ca: certs.ca });
    const { port } = await serveHttps(t, {
      tls: {
        ca: answer === 'a native context' ? certs.wrongCa : certs.ca,
        SNICallback: (_name: string, cb: (e: Error | null, c?: tls.SecureContext) => void) =>
          cb(
            null,
            (answer === 'a native context'
              ? (tenant as unknown as { context: unknown }).context
              : false) as tls.SecureContext,
          ),
      },
      answer: answerResumed,
    });
    const first = await request(t, port);
    t.equal(first.status, '200 resumed=false', 'the full handshake is served');
    const resumed = await request(t, port, first.session);
    t.equal(resumed.status, '200 resumed=true', 'and so is its resumed session');
  });
}
