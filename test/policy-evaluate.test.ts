// evaluatePolicy: normalization, timeout and fail-closed behaviour of every kind of policy answer.
import t from 'tap';
import { evaluatePolicy, isPolicy, policyName } from '../dist/policy/evaluate.js';
import type { PolicyAdapter } from '../dist/common/types.js';
import { makeInput } from './helpers/policy-input';

const input = makeInput();

t.test('booleans and DecisionLike objects are normalized', async (t) => {
  const yes = await evaluatePolicy(() => true, input);
  t.match(yes, { allow: true, reason: 'allowed', expiresAt: Infinity, source: 'engine' });
  t.type(yes.durationMs, 'number');
  t.equal(yes.error, undefined);
  t.match(await evaluatePolicy(() => false, input), { allow: false, reason: 'denied' });
  t.match(await evaluatePolicy(async () => ({ allow: false, reason: 'nope' }), input), {
    allow: false,
    reason: 'nope',
  });

  const now = () => 1_000_000;
  const ttl = await evaluatePolicy(() => ({ allow: true, ttlMs: 500 }), input, { now });
  t.equal(ttl.expiresAt, 1_000_500);
  const both = await evaluatePolicy(() => ({ allow: true, ttlMs: 500, expiresAt: 1_000_100 }), input, { now });
  t.equal(both.expiresAt, 1_000_100, 'the earlier of ttlMs and expiresAt wins');
  const ob = await evaluatePolicy(() => ({ allow: true, obligations: { log: true } }), input);
  t.same(ob.obligations, { log: true });
});

t.test('adapters receive an AbortSignal; source cache is kept', async (t) => {
  let seen: AbortSignal | undefined;
  const adapter: PolicyAdapter = {
    name: 'probe',
    evaluate(_input, signal) {
      seen = signal;
      return { allow: true, source: 'cache' } as { allow: boolean };
    },
  };
  const d = await evaluatePolicy(adapter, input);
  t.ok(seen instanceof AbortSignal);
  t.equal(d.source, 'cache');
});

t.test('a throwing or rejecting policy denies with policy-error', async (t) => {
  const sync = await evaluatePolicy(() => {
    throw new Error('boom');
  }, input);
  t.match(sync, { allow: false, reason: 'policy-error', error: { code: 'ERR_CTLS_POLICY_FAILED' } });
  t.match(sync.error?.message, /boom/);
  const rejected = await evaluatePolicy(async () => {
    throw new TypeError('bad');
  }, input);
  t.match(rejected, { allow: false, reason: 'policy-error', error: { code: 'ERR_CTLS_POLICY_FAILED' } });
});

t.test('an answer that is not a decision denies with policy-error', async (t) => {
  const answers: unknown[] = [
    undefined,
    null,
    'yes',
    1,
    {},
    { allow: 'true' },
    [true],
    { allow: true, ttlMs: -1 },
    { allow: true, expiresAt: 'soon' },
    { allow: true, obligations: 'x' },
  ];
  for (const answer of answers) {
    const d = await evaluatePolicy((() => answer) as () => boolean, input);
    t.match(
      d,
      { allow: false, reason: 'policy-error', error: { code: 'ERR_CTLS_POLICY_FAILED' } },
      `answer ${JSON.stringify(answer)}`,
    );
  }
});

t.test('a slow policy denies with policy-timeout within the timeout and is aborted', async (t) => {
  let aborted: unknown;
  const slow: PolicyAdapter = {
    name: 'slow',
    evaluate(_input, signal) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(true), 5_000);
        signal?.addEventListener('abort', () => {
          aborted = signal.reason;
          clearTimeout(timer);
        });
      });
    },
  };
  const start = Date.now();
  const d = await evaluatePolicy(slow, input, { timeoutMs: 50 });
  const took = Date.now() - start;
  t.match(d, { allow: false, reason: 'policy-timeout', error: { code: 'ERR_CTLS_POLICY_TIMEOUT' } });
  t.ok(took >= 45 && took < 1_000, `answered after ${took} ms`);
  t.match(aborted, { code: 'ERR_CTLS_POLICY_TIMEOUT' }, 'the adapter saw the abort');
  t.match(d.error?.message, /slow/);

  // A never-settling policy also answers at the default timeout (200 ms).
  const start2 = Date.now();
  const d2 = await evaluatePolicy(() => new Promise<boolean>(() => {}), input);
  t.equal(d2.reason, 'policy-timeout');
  t.ok(Date.now() - start2 < 1_000);
});

t.test('a synchronous policy that answers late counts as a timeout', async (t) => {
  const busy = () => {
    const end = Date.now() + 30;
    while (Date.now() < end);
    return true;
  };
  const d = await evaluatePolicy(busy, input, { timeoutMs: 10 });
  t.match(d, { allow: false, reason: 'policy-timeout' });
});

t.test('coded adapter errors keep their code', async (t) => {
  const { ctlsError } = await import('../dist/common/errors.js');
  const d = await evaluatePolicy(async () => {
    throw ctlsError('ERR_CTLS_PDP_HTTP', 'status 500');
  }, input);
  t.match(d, { allow: false, reason: 'policy-error', error: { code: 'ERR_CTLS_PDP_HTTP' } });
});

t.test('bad arguments deny instead of rejecting', async (t) => {
  t.match(await evaluatePolicy(42 as never, input), {
    allow: false,
    reason: 'policy-error',
    error: { code: 'ERR_CTLS_INVALID_OPTION' },
  });
  t.match(await evaluatePolicy(() => true, input, { timeoutMs: -1 }), {
    allow: false,
    error: { code: 'ERR_CTLS_INVALID_OPTION' },
  });
  t.match(await evaluatePolicy(() => true, input, { policyTimeout: 0 }), {
    allow: false,
    error: { code: 'ERR_CTLS_INVALID_OPTION' },
  });
});

t.test('policyTimeout, with timeoutMs as its deprecated alias', async (t) => {
  const never = () => new Promise<boolean>(() => {});
  t.match(await evaluatePolicy(never, input, { policyTimeout: 20 }), { allow: false, reason: 'policy-timeout' });
  t.match(await evaluatePolicy(never, input, { timeoutMs: 20 }), { allow: false, reason: 'policy-timeout' });
  t.match(await evaluatePolicy(() => true, input, { policyTimeout: 20, timeoutMs: 20 }), { allow: true });
  t.match(await evaluatePolicy(() => true, input, { policyTimeout: 20, timeoutMs: 30 }), {
    allow: false,
    error: { code: 'ERR_CTLS_INVALID_OPTION', message: /"timeoutMs"/ },
  });
});

t.test('isPolicy and policyName', async (t) => {
  t.ok(isPolicy(() => true));
  t.ok(isPolicy({ evaluate: () => true }));
  t.notOk(isPolicy({}));
  t.notOk(isPolicy(null));
  function namedPolicy() {
    return true;
  }
  t.equal(policyName(namedPolicy), 'namedPolicy');
  t.equal(policyName({ name: 'cedar', evaluate: () => true }), 'cedar');
  t.equal(policyName({ evaluate: () => true }), 'anonymous');
});
