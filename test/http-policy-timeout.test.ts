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

// Each is compared with the default (200 ms) timed the same way beside it, so a busy machine slows
// both instead of failing a fixed bound.
t.test('policyTimeout bounds the policy', async (t) => {
  const took = await timeOfDenial({ policyTimeout: 30 });
  const byDefault = await timeOfDenial({});
  t.ok(took >= 25 && took < byDefault, `denied after ${took} ms (the default: ${byDefault} ms)`);
});

t.test('timeoutMs is the deprecated alias of policyTimeout', async (t) => {
  const took = await timeOfDenial({ timeoutMs: 30 });
  const same = await timeOfDenial({ policyTimeout: 30, timeoutMs: 30 });
  const byDefault = await timeOfDenial({});
  t.ok(took >= 25 && took < byDefault, `denied after ${took} ms (the default: ${byDefault} ms)`);
  t.ok(same < byDefault, 'both given with one value is accepted');
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
