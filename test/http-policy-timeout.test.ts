// authorizeRequest's policy timeout is the server's `policyTimeout`: a policy that answers later
// denies the request; `timeoutMs` is still read as its deprecated alias, and the two given with
// different values are refused.
import type { IncomingMessage } from 'node:http';
import t from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';

const never = () => new Promise<boolean>(() => {});
const request = () => ({ method: 'GET', url: '/', headers: {}, socket: {} }) as unknown as IncomingMessage;

async function timeOfDenial(options: { policyTimeout?: number; timeoutMs?: number }): Promise<number> {
  const authz = authorizeRequest({ policy: never, cache: false, ...options });
  const start = Date.now();
  const outcome = await authz.authorize(request());
  t.match(outcome, { allowed: false, status: 403, decision: { reason: 'policy-timeout' } });
  return Date.now() - start;
}

t.test('policyTimeout bounds the policy', async (t) => {
  const took = await timeOfDenial({ policyTimeout: 30 });
  t.ok(took >= 25 && took < 150, `denied after ${took} ms`);
});

t.test('timeoutMs is the deprecated alias of policyTimeout', async (t) => {
  const took = await timeOfDenial({ timeoutMs: 30 });
  t.ok(took >= 25 && took < 150, `denied after ${took} ms`);
  const same = await timeOfDenial({ policyTimeout: 30, timeoutMs: 30 });
  t.ok(same < 150, 'both given with one value is accepted');
});

t.test('both given and different, or a bad value, is an invalid option', async (t) => {
  t.throws(() => authorizeRequest({ policy: never, policyTimeout: 30, timeoutMs: 40 }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /"timeoutMs".*policyTimeout/,
  });
  for (const bad of [0, -1, NaN, Infinity, '30']) {
    t.throws(
      () => authorizeRequest({ policy: never, policyTimeout: bad as number }),
      { code: 'ERR_CTLS_INVALID_OPTION', message: /"policyTimeout"/ },
      `policyTimeout ${String(bad)}`,
    );
    t.throws(
      () => authorizeRequest({ policy: never, timeoutMs: bad as number }),
      { code: 'ERR_CTLS_INVALID_OPTION', message: /"timeoutMs"/ },
      `timeoutMs ${String(bad)}`,
    );
  }
});
