/**
 * Attack: an overloaded decision point answers the batched Access Evaluations call with
 * 503 Service Unavailable (or 429 Too Many Requests). The batcher treats every non-2xx as "one
 * request of the batch may be at fault" and re-sends each of the batch's requests on its own: a
 * trust change that re-decides 64 live connections turns one refused call into 1 + 64 calls, hitting
 * the PDP hardest at the moment it said it is overloaded (and each retry gets a fresh full timeout).
 * Every process of a fleet re-deciding on the same CRL does the same at once.
 *
 * A correct library retries one by one only when the refusal can be one request's fault (400, 413,
 * 422: a malformed or oversized request, or a malformed answer), and fails the whole batch closed at
 * once on 5xx and 429, which say nothing about any one request.
 *
 * Attack class: exhaustion of a shared service (pending work amplified against a decision point).
 */
import t from 'tap';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { authzenPolicy } from '../dist/policy/http-pdp.js';
import { tokenInput } from './helpers/policy-input';
import { fakeServer, json } from './helpers/policy-pdp';

t.test('a batch refused with 503 is not re-sent request by request', async (t) => {
  const fake = await fakeServer(t, (_path, _body, res) => json(res, 503, { error: 'overloaded' }));
  const policy = authzenPolicy({ url: fake.url, timeoutMs: 2_000, batch: true });
  t.teardown(() => policy.close());
  const decisions = await Promise.all(
    Array.from({ length: 32 }, (_, i) =>
      evaluatePolicy(policy, tokenInput({ sub: `user-${i}` }), { timeoutMs: 2_000 }),
    ),
  );
  t.ok(
    decisions.every((d) => d.allow === false),
    'every decision is a denial',
  );
  const paths = fake.requests.map((r) => r.path);
  t.equal(paths.filter((p) => p.endsWith('/access/v1/evaluations')).length, 1, 'one batch call');
  t.equal(paths.length, 1, `no per-request retries after a 503 (saw ${paths.length} calls)`);
});
