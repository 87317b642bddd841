// Attack: REST on node:https warns ERR_CTLS_CLIENT_CAS_UNKNOWN "once per context" (lib/http/peer.ts
// warnTrustUnknown keeps a WeakSet of native contexts). An SNICallback that makes its context at
// each handshake (tls.createSecureContext(loadIdentity(name)), a common pattern for per-name
// certificates) without a `ca` the library can read gives every connection a new native context:
// every request with a client certificate, any certificate, since the warning comes before the
// verdict, writes a process warning with its stack to stderr. A client opening connections in a
// loop floods the server's logs at the cost of a self-signed certificate.
//
// The fix: warn once per server (or per process, with a count), keyed by something that does not
// change at every handshake, such as the SNICallback or the server.
import t from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

const CONNECTIONS = 20;

t.test('an SNICallback making a context per handshake does not make a warning per connection', async (t) => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    if ((warning as { code?: string }).code === 'ERR_CTLS_CLIENT_CAS_UNKNOWN') warnings.push(warning);
  };
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const server = https.createServer(
    {
      ...identity,
      ca: certs.ca,
      requestCert: true,
      rejectUnauthorized: false,
      SNICallback: (_name: string, done: (error: Error | null, context: tls.SecureContext) => void) =>
        done(null, tls.createSecureContext(identity)),
    },
    authz.node((_req, res) => res.end('ok')),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  for (let i = 0; i < CONNECTIONS; i++) {
    // Any certificate will do: the wrong CA's, which nothing on the server trusts.
    const client = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: certs.ca,
      key: certs.clientWrongCaKey,
      cert: certs.clientWrongCaCert,
    });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    await waitFor(client, 'secureConnect', SOON);
    await rawHttp(client)('GET', '/').catch(() => undefined);
    client.destroy();
  }
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(warnings.length <= 1, `${CONNECTIONS} connections make at most one warning (${warnings.length})`);
});
