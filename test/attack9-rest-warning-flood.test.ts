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
import * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';
import { serveHttps, tlsClient } from './helpers/https-resumption';

const CONNECTIONS = 20;

t.test('an SNICallback making a context per handshake does not make a warning per connection', async (t) => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    if ((warning as { code?: string }).code === 'ERR_CTLS_CLIENT_CAS_UNKNOWN') warnings.push(warning);
  };
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const { port } = await serveHttps(t, {
    tls: {
      ca: certs.ca,
      rejectUnauthorized: false,
      SNICallback: (_name: string, done: (error: Error | null, context: tls.SecureContext) => void) =>
        done(null, tls.createSecureContext(identity)),
    },
  });
  for (let i = 0; i < CONNECTIONS; i++) {
    // Any certificate will do: the wrong CA's, which nothing on the server trusts.
    const client = tlsClient(t, { port, key: certs.clientWrongCaKey, cert: certs.clientWrongCaCert });
    await waitFor(client, 'secureConnect', SOON);
    await rawHttp(client)('GET', '/').catch(() => undefined);
    client.destroy();
  }
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(warnings.length <= 1, `${CONNECTIONS} connections make at most one warning (${warnings.length})`);
});
