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
import * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, statusAndBodyIf200, type Reply } from './helpers/https-resumption';

const DELAY_MS = 5_500;

function request(t: Test, port: number, session?: Buffer): Promise<Reply<string>> {
  return tlsGet(t, {
    port,
    servername: 'tenant.localhost',
    session,
    read: statusAndBodyIf200,
    handshakeTimeout: 15_000,
    closeAfter: 20,
  });
}

t.test('a resumed session is served when the SNICallback takes as long as it did at its handshake', async (t) => {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const tenant = tls.createSecureContext({ ...identity, ca: certs.ca });
  const timers = new Set<NodeJS.Timeout>();
  const { port } = await serveHttps(t, {
    tls: {
      ca: certs.wrongCa,
      SNICallback: (_name: string, cb: (e: Error | null, c?: tls.SecureContext) => void) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          cb(null, tenant);
        }, DELAY_MS);
        timers.add(timer);
      },
    },
    answer: answerResumed,
  });
  // (Teardown runs last-registered first: the timers go before the server closes.)
  t.teardown(() => {
    for (const timer of timers) clearTimeout(timer);
  });
  const first = await request(t, port);
  t.equal(first.status, '200 resumed=false', 'the full handshake waits for the callback and is served');
  const resumed = await request(t, port, first.session);
  t.equal(resumed.status, '200 resumed=true', 'and so is its resumed session');
});
