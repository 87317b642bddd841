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
import https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

interface Reply {
  status: string;
  session?: Buffer;
}

async function request(t: Test, port: number, session?: Buffer): Promise<Reply> {
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'tenant.localhost',
    checkServerIdentity: () => undefined,
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    ...(session && { session }),
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  let ticket: Buffer | undefined;
  client.on('session', (value: Buffer) => (ticket = value));
  await waitFor(client, 'secureConnect', SOON);
  const status = await rawHttp(client)('GET', '/').then(
    (reply) => `${reply.status} ${reply.status === 200 ? String(reply.body) : ''}`,
    () => 'closed',
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  client.destroy();
  return { status, session: ticket };
}

for (const answer of ['a native context', 'false (node: the default context)'] as const) {
  t.test(`a resumed session is served when the SNICallback answers ${answer}, as node takes it`, async (t) => {
    const identity = { key: certs.serverKey, cert: certs.serverChain };
    const tenant = tls.createSecureContext({ ...identity, ca: certs.ca });
    const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
    const server = https.createServer(
      {
        ...identity,
        ca: answer === 'a native context' ? certs.wrongCa : certs.ca,
        requestCert: true,
        rejectUnauthorized: true,
        SNICallback: (_name: string, cb: (e: Error | null, c?: tls.SecureContext) => void) =>
          cb(
            null,
            (answer === 'a native context'
              ? (tenant as unknown as { context: unknown }).context
              : false) as tls.SecureContext,
          ),
      },
      authz.node((req, res) => res.end(`resumed=${String((req.socket as tls.TLSSocket).isSessionReused())}`)),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = (server.address() as AddressInfo).port;
    const first = await request(t, port);
    t.equal(first.status, '200 resumed=false', 'the full handshake is served');
    const resumed = await request(t, port, first.session);
    t.equal(resumed.status, '200 resumed=true', 'and so is its resumed session');
  });
}
