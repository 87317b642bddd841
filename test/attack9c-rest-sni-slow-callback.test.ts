// Attack: behind an app's SNICallback, REST asks the callback again for a resumed session's name
// (lib/http/node-server-trust.ts resumedSniAnswer()) and denies when it has not answered within
// 5 s (SNI_ANSWER_TIMEOUT_MS). node sets no such limit on the callback at a full handshake (only
// the server's handshakeTimeout, 120 s by default, bounds the whole handshake), so a callback that
// takes longer (a cold secret-store or database lookup, an ACME order, a rate-limited backend)
// serves every full handshake and denies every resumption 403 certificate-chain-unknown; clients
// keep offering the session, so they stay refused until it expires.
//
// The fix: bound the wait by what node allows the same callback at a handshake (the server's
// handshakeTimeout, or no bound of the library's own), or answer 503 (retryable) rather than 403
// when the callback is merely slow; document the bound in docs/api.md next to "Resumed sessions".
import t, { type Test } from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';
import { waitFor } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

const DELAY_MS = 5_500;

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
  await waitFor(client, 'secureConnect', 15_000);
  const status = await rawHttp(client)('GET', '/').then(
    (reply) => `${reply.status} ${reply.status === 200 ? String(reply.body) : ''}`,
    () => 'closed',
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  client.destroy();
  return { status, session: ticket };
}

t.test('a resumed session is served when the SNICallback takes as long as it did at its handshake', async (t) => {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const tenant = tls.createSecureContext({ ...identity, ca: certs.ca });
  const timers = new Set<NodeJS.Timeout>();
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  const server = https.createServer(
    {
      ...identity,
      ca: certs.wrongCa,
      requestCert: true,
      rejectUnauthorized: true,
      SNICallback: (_name: string, cb: (e: Error | null, c?: tls.SecureContext) => void) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          cb(null, tenant);
        }, DELAY_MS);
        timers.add(timer);
      },
    },
    authz.node((req, res) => res.end(`resumed=${String((req.socket as tls.TLSSocket).isSessionReused())}`)),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const timer of timers) clearTimeout(timer);
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  const first = await request(t, port);
  t.equal(first.status, '200 resumed=false', 'the full handshake waits for the callback and is served');
  const resumed = await request(t, port, first.session);
  t.equal(resumed.status, '200 resumed=true', 'and so is its resumed session');
});
