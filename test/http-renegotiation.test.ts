// A TLS 1.2 renegotiation that brings another client certificate: the request after it is judged on
// the certificate that renegotiation presented and on whether that handshake verified it, not on
// node's socket.authorized, which only ever describes the first handshake.
import https from 'node:https';
import { constants } from 'node:crypto';
import type { TLSSocket as NodeTlsSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { connect } from '../dist/index.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { rawHttp } from './helpers/raw-http';

/** CN=admin may see /admin; everyone verified may see the rest. */
function policy(input: AuthorizationInput) {
  const cn = input.peer.certificate?.subject.replace(/^.*CN=/s, '');
  if (input.request!.path === '/admin') return { allow: cn === 'admin', reason: `cn=${cn}` };
  return { allow: true, reason: `cn=${cn}` };
}

async function serve(t: Test, cache: boolean): Promise<number> {
  const authz = authorizeRequest({
    policy: cache ? Object.assign(policy, { factsRead: ['request.path'] }) : policy,
    ...(cache ? {} : { cache: false }),
    exposeReason: true,
  });
  const server = https.createServer(
    {
      key: certs.serverKey,
      cert: certs.serverChain,
      ca: certs.ca,
      requestCert: true,
      rejectUnauthorized: false,
      maxVersion: 'TLSv1.2',
      // No tickets, so a renegotiation is a full handshake (a client can always decline to resume).
      secureOptions: constants.SSL_OP_NO_TICKET,
    },
    authz.node((req, res) => {
      if (req.url === '/renegotiate') {
        // What an app (or attach()'s fresh re-check on TLS 1.2) does to ask for a certificate again.
        (req.socket as NodeTlsSocket).renegotiate({ requestCert: true, rejectUnauthorized: false }, (err) =>
          res.end(err ? `failed: ${err.message}` : 'renegotiated'),
        );
        return;
      }
      res.end(`handled ${(req as unknown as { authorization: { reason: string } }).authorization.reason}`);
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as AddressInfo).port;
}

async function client(t: Test, port: number) {
  const socket = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    maxVersion: 'TLSv1.2',
  });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  return { socket, send: rawHttp(socket) };
}

for (const cache of [false, true]) {
  t.test(
    `an untrusted certificate swapped in by renegotiation is not served (cache ${cache ? 'on' : 'off'})`,
    async (t) => {
      const evil = await DevelopmentCA.create();
      const admin = await evil.issueClient({ commonName: 'admin' });
      const port = await serve(t, cache);
      const { socket, send } = await client(t, port);

      t.match(await send('GET', '/admin'), { status: 403 }, 'alice may not see /admin');
      t.match(await send('GET', '/'), { status: 200, body: 'handled cn=alice' });
      socket.setIdentity({ key: admin.key, cert: admin.chain });
      t.match(await send('GET', '/renegotiate'), { status: 200, body: 'renegotiated' });
      const after = await send('GET', '/admin');
      t.equal(after.status, 403, 'the admin certificate from another CA is refused');
      t.match(JSON.parse(after.body), { detail: /^certificate-unverified: UNABLE_TO_GET_ISSUER_CERT_LOCALLY$/ });
      t.equal((await send('GET', '/')).status, 403, 'and so is every later request on that connection');
    },
  );
}

t.test('a trusted certificate brought by renegotiation is the new identity', async (t) => {
  const port = await serve(t, true);
  const { socket, send } = await client(t, port);
  t.match(await send('GET', '/'), { status: 200, body: 'handled cn=alice' });
  socket.setIdentity({ key: certs.client2Key, cert: certs.client2Chain });
  t.match(await send('GET', '/renegotiate'), { status: 200, body: 'renegotiated' });
  t.match(await send('GET', '/'), { status: 200, body: 'handled cn=bob' }, 'judged as bob, not as alice');
});
