// Attack (wrong denial): a client that connects by IP address sends no SNI (RFC 6066 forbids IP
// literals there; node, curl and browsers send none), so node never asks the app's SNICallback and
// its default context verifies the client: served. When that client resumes its session in
// TLS 1.2, lib/http/node-server-trust.ts takes the request's Host ("127.0.0.1:port") for the
// missing server name and asks the SNICallback for "127.0.0.1", a name node never hands it. A
// callback that refuses names it does not host (the usual `cb(new Error('unknown host'))`) fails
// the connection's name and every request is denied: each TLS 1.2 resumption of every
// IP-addressed client (service-to-service calls) gets 403 where its full handshake was served.
// The same happens for a Host that is no DNS name at all (`[::1]`, or a Host the callback's
// lookup throws on).
//
// The fix: an IP literal (v4, or v6 in brackets) never stands for a server name: judge such a
// resumed request as node judged its full handshake without SNI (the default context); more
// generally, only a Host that is a valid DNS host name should be handed to the SNICallback.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, statusAndBodyIf200, type Reply } from './helpers/https-resumption';

function request(t: Test, port: number, session?: Buffer): Promise<Reply<string>> {
  return tlsGet(t, {
    port,
    // No servername: node sends no SNI to an IP address.
    servername: null,
    maxVersion: 'TLSv1.2',
    session,
    host: `127.0.0.1:${port}`,
    read: (reply) => statusAndBodyIf200(reply).trim(),
    refused: 'handshake refused',
    closeAfter: 0,
    sessionFrom: 'getSession',
  });
}

t.test('TLS 1.2: a client without SNI (by IP) is served resumed as on its full handshake', async (t) => {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const tenant = tls.createSecureContext({ ...identity, ca: certs.wrongCa });
  const asked: string[] = [];
  const { port } = await serveHttps(t, {
    tls: {
      ca: certs.ca,
      SNICallback: (name: string, cb: (e: Error | null, c?: tls.SecureContext) => void) => {
        asked.push(name);
        if (name === 'tenant.localhost') cb(null, tenant);
        else cb(new Error(`unknown host ${name}`));
      },
    },
    answer: answerResumed,
  });
  const full = await request(t, port);
  t.equal(full.status, '200 resumed=false', 'the full handshake (default context, no SNICallback) is served');
  const resumed = await request(t, port, full.session);
  t.equal(resumed.status, '200 resumed=true', 'its TLS 1.2 resumption is served too');
  t.same(asked, [], 'the SNICallback is never asked for an IP address');
});
