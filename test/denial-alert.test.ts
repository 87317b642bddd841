// A denied peer is told: the connection ends with a fatal TLS alert naming why (access_denied for a
// policy denial, certificate_revoked after a revocation) before the close, so a client can tell a
// denial from a normal close. Checked from python3's ssl module and openssl s_client, which report
// the alert they received.
import t, { type Test } from 'tap';
import { createServer, type ServerOptions, type Server, type TLSSocket } from '../dist/index.js';
import { certs, keyPath } from './helpers/certs';
import { opensslClient, pythonClient } from './helpers/peers';
import { listenLoopback, waitFor } from './helpers/interop-net';

async function start(t: Test, options: ServerOptions): Promise<{ server: Server; port: number }> {
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    ca: certs.ca,
    requestCert: true,
    ...options,
  });
  const port = await listenLoopback(t, server);
  return { server, port };
}

const alice = ['--cert', keyPath('clientChain'), '--key', keyPath('clientKey')];

for (const tlsVersion of ['1.3', '1.2'] as const) {
  t.test(`TLS ${tlsVersion}: python sees access_denied when the policy denies the handshake`, async (t) => {
    const { port } = await start(t, { policy: async () => false });
    const client = pythonClient('pha_client.py', [
      '--port',
      String(port),
      '--ca',
      keyPath('ca'),
      '--tls',
      tlsVersion,
      ...alice,
    ]);
    t.teardown(() => client.close());
    const [line] = await client.waitFor(/^CLOSED:.*$/m);
    t.match(line, /ACCESS_DENIED/i);
  });

  t.test(`TLS ${tlsVersion}: python sees certificate_revoked when a revocation cuts it`, async (t) => {
    const { server, port } = await start(t, { crl: certs.crlEmpty });
    const accepted = waitFor<[TLSSocket]>(server, 'secureConnection');
    const revoked = ['--cert', keyPath('clientRevokedChain'), '--key', keyPath('clientRevokedKey')];
    const client = pythonClient('pha_client.py', [
      '--port',
      String(port),
      '--ca',
      keyPath('ca'),
      '--tls',
      tlsVersion,
      ...revoked,
    ]);
    t.teardown(() => client.close());
    await client.handshake();
    await accepted;
    await server.setCrl(certs.crl);
    const [line] = await client.waitFor(/^CLOSED:.*$/m);
    t.match(line, /CERTIFICATE_REVOKED/i);
  });
}

t.test('openssl s_client prints the access_denied alert', async (t) => {
  const { port } = await start(t, { policy: async () => false });
  const client = opensslClient({
    port,
    cert: keyPath('clientCert'),
    key: keyPath('clientKey'),
    certChain: keyPath('clientChain'),
    CAfile: keyPath('ca'),
    servername: 'localhost',
  });
  t.teardown(() => client.close());
  await client.waitFor(/alert access denied/i);
  t.pass('s_client reports the alert');
});
