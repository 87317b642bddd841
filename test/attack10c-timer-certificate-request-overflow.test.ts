// Attack (pending states are budgets / timers): the round-10b fix capped the policy and context
// timeouts at MAX_TIMER_MS (2^31-1 ms, about 24.8 days), since node turns a longer setTimeout delay
// into 1 ms. The certificate-request timeout was left out: `socket.requestCertificate({ timeout })`
// and the `reauthorize.timeout` of a fresh re-check (which reaches the same timer, and
// AttachedSubject's renegotiation timer) accept any finite number of ms and hand it to
// setTimeout as is. A server configured with a long timeout ("wait as long as the peer needs",
// e.g. 30 days or Number.MAX_SAFE_INTEGER) has every certificate request time out after 1 ms:
// every fresh re-authentication fails with ERR_CTLS_REAUTH_TIMEOUT and the connection is denied,
// whatever the peer does (a deny-everything misfire, and a TimeoutOverflowWarning per request).
//
// A correct library either caps the timer at MAX_TIMER_MS, as it does for policyTimeout and
// contextTimeout, or refuses the option up front (ERR_CTLS_INVALID_OPTION); it never turns a long
// timeout into an immediate one.
import t, { type Test } from 'tap';
import * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, connect, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor, SOON } from './helpers/owned';

const THIRTY_DAYS = 30 * 24 * 3600 * 1000;

async function outcomeAfter(t: Test, timeout: number): Promise<string> {
  const server = createServer({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true });
  const serverPort = await listen(t, server);
  // A relay that stops carrying the client's bytes once the handshake is done: the certificate
  // request is never answered, so only the timer can end it.
  let hold = false;
  const relay = net.createServer((inbound) => {
    const outbound = net.connect(serverPort, '127.0.0.1');
    inbound.on('data', (data) => {
      if (!hold) outbound.write(data);
    });
    outbound.pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  const port = await listen(t, relay);
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const client = connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    maxVersion: 'TLSv1.3',
  });
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect', SOON);
  const [peer] = await accepted;
  hold = true;
  let outcome = 'pending';
  peer.requestCertificate({ timeout }).then(
    () => (outcome = 'answered'),
    (error: Error & { code?: string }) => (outcome = error.code ?? String(error)),
  );
  await sleep(300);
  return outcome;
}

process.on('warning', () => {}); // TimeoutOverflowWarning is the symptom, not the assertion.

t.test('control: a 10-second timeout is still pending after 300 ms', async (t) => {
  t.equal(await outcomeAfter(t, 10_000), 'pending');
});

t.test('a 30-day certificate-request timeout does not fire at once', async (t) => {
  const outcome = await outcomeAfter(t, THIRTY_DAYS);
  t.not(outcome, 'ERR_CTLS_REAUTH_TIMEOUT', 'a 30-day timeout has not run out after 300 ms');
  t.ok(outcome === 'pending' || outcome === 'ERR_CTLS_INVALID_OPTION', `outcome: ${outcome}`);
});
