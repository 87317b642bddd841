// Attack (pending states are budgets / timers): the round-10b fix capped the policy and context
// timeouts at MAX_TIMER_MS (2^31-1 ms, about 24.8 days), since node turns a longer setTimeout delay
// into 1 ms. The SSF receiver's `bodyTimeout` (and `requestVerification({ timeout })`) accepts
// any finite number of ms and hands it to setTimeout as is. A receiver configured with a long body
// timeout (30 days, "never cut a slow transmitter off") answers 408 to every push whose body does
// not arrive in the same millisecond as its headers: a transmitter that writes headers and body
// in two steps, or any body crossing a slow link, is refused, every time. The security events
// it carries (session-revoked, credential-change) are never applied, so the sessions they
// revoke go on being allowed: the timeout fails open for revocation.
//
// A correct library either caps the timer at MAX_TIMER_MS, as it does for policyTimeout and
// contextTimeout, or refuses the option up front (ERR_CTLS_INVALID_OPTION); it never turns a long
// timeout into an immediate one.
import t, { type Test } from 'tap';
import * as http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { AUDIENCE, fakeFleet, serve } from './helpers/ssf';

const THIRTY_DAYS = 30 * 24 * 3600 * 1000;
const alice = { format: 'email', email: 'alice@example.com' } as const;
process.on('warning', () => {}); // TimeoutOverflowWarning is the symptom, not the assertion.

/** Pushes a session-revoked SET whose body follows its headers 50 ms later. */
async function slowPush(t: Test, bodyTimeout: number): Promise<{ status: number; calls: number }> {
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const fleet = fakeFleet();
  let receiver: ReturnType<typeof ssfReceiver>;
  try {
    receiver = ssfReceiver({
      issuer: transmitter.issuer,
      audience: AUDIENCE,
      jwks: transmitter.jwks(),
      fleet,
      bodyTimeout,
    });
  } catch (error) {
    return { status: (error as { code?: string }).code === 'ERR_CTLS_INVALID_OPTION' ? -1 : -2, calls: 0 };
  }
  const url = await serve(t, receiver.handler);
  const body = Buffer.from(await transmitter.caep('session-revoked', { audience: AUDIENCE, subject: alice }));
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/secevent+jwt', 'content-length': body.length },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.flushHeaders();
    void sleep(50).then(() => req.end(body));
  });
  return { status, calls: fleet.calls.length };
}

t.test('control: with a 10-second body timeout the slow push is applied', async (t) => {
  t.match(await slowPush(t, 10_000), { status: 202, calls: 1 });
});

t.test('with a 30-day body timeout the slow push is applied too (or the option refused)', async (t) => {
  const { status, calls } = await slowPush(t, THIRTY_DAYS);
  t.not(status, 408, 'a 30-day body timeout has not run out after 50 ms');
  t.ok((status === 202 && calls === 1) || status === -1, `status ${status}, revocations applied: ${calls}`);
});
