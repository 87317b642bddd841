// allOf / anyOf / firstApplicable: outcome, reasons, expiry, short-circuit and fail-closed semantics.
import t from 'tap';
import { allOf, anyOf, firstApplicable } from '../dist/policy/compose.js';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import type { DecisionLike, PolicyAdapter } from '../dist/common/types.js';
import { makeInput } from './helpers/policy-input';

const input = makeInput();
const now = Date.now();

function named(name: string, answer: DecisionLike | undefined | (() => never), calls?: string[]): PolicyAdapter {
  return {
    name,
    evaluate() {
      calls?.push(name);
      if (typeof answer === 'function') return answer();
      return answer as DecisionLike;
    },
  };
}
const boom = (): never => {
  throw new Error('boom');
};

t.test('allOf is deny-overrides and short-circuits', async (t) => {
  const calls: string[] = [];
  const d = await evaluatePolicy(
    allOf(
      named('a', { allow: true, expiresAt: now + 10_000 }, calls),
      named('b', { allow: false, reason: 'risk too high', expiresAt: now + 5_000 }, calls),
      named('c', true, calls),
    ),
    input,
  );
  t.match(d, { allow: false, reason: 'b: risk too high', expiresAt: now + 5_000 });
  t.same(calls, ['a', 'b'], 'c was not asked');

  const ok = await evaluatePolicy(
    allOf(
      named('a', { allow: true, expiresAt: now + 10_000 }),
      named('b', { allow: true, reason: 'fine', expiresAt: now + 3_000 }),
    ),
    input,
  );
  t.match(ok, { allow: true, reason: 'a: allowed; b: fine', expiresAt: now + 3_000 });

  const err = await evaluatePolicy(allOf(named('a', true), named('b', boom)), input);
  t.match(err, { allow: false, reason: 'policy-error', error: { code: 'ERR_CTLS_POLICY_FAILED' } });
});

t.test('anyOf is permit-overrides; an error never allows', async (t) => {
  const calls: string[] = [];
  const d = await evaluatePolicy(
    anyOf(named('a', false, calls), named('b', { allow: true, reason: 'admin' }, calls), named('c', true, calls)),
    input,
  );
  t.match(d, { allow: true, reason: 'b: admin' });
  t.same(calls, ['a', 'b']);

  t.match(await evaluatePolicy(anyOf(named('a', false), named('b', { allow: false, reason: 'no' })), input), {
    allow: false,
    reason: 'none allowed (a: denied; b: no)',
  });
  t.match(
    await evaluatePolicy(anyOf(named('a', boom), named('b', true)), input),
    { allow: true, reason: 'b: allowed' },
    'a failing alternative does not veto another that allows',
  );
  t.match(
    await evaluatePolicy(anyOf(named('a', boom), named('b', false)), input),
    { allow: false, reason: 'policy-error' },
    'when nothing allows, the failure is reported',
  );
});

t.test('firstApplicable skips not-applicable answers', async (t) => {
  const d = await evaluatePolicy(
    firstApplicable(
      named('a', undefined),
      named('b', { allow: false, reason: 'not-applicable', expiresAt: now + 1_000 }),
      named('c', { allow: false, reason: 'blocked' }),
      named('d', true),
    ),
    input,
  );
  t.match(d, { allow: false, reason: 'c: blocked', expiresAt: now + 1_000 });
  t.match(await evaluatePolicy(firstApplicable(named('a', undefined)), input), {
    allow: false,
    reason: 'not-applicable',
  });
  // Nesting: an inner firstApplicable that does not apply is skipped by the outer one.
  t.match(await evaluatePolicy(firstApplicable(firstApplicable(named('a', undefined)), named('z', true)), input), {
    allow: true,
    reason: 'z: allowed',
  });
  t.match(await evaluatePolicy(firstApplicable(named('a', boom), named('b', true)), input), {
    allow: false,
    reason: 'policy-error',
  });
});

t.test('obligations merge; the outer timeout covers the whole composition', async (t) => {
  const d = await evaluatePolicy(
    allOf(
      named('a', { allow: true, obligations: { log: 1 } }),
      named('b', { allow: true, obligations: { mfa: true } }),
    ),
    input,
  );
  t.same(d.obligations, { log: 1, mfa: true });

  let secondAsked = false;
  const slow: PolicyAdapter = {
    name: 'slow',
    evaluate: (_i, signal) =>
      new Promise((resolve) => {
        const tm = setTimeout(() => resolve(true), 2_000);
        signal?.addEventListener('abort', () => clearTimeout(tm));
      }),
  };
  const after: PolicyAdapter = {
    name: 'after',
    evaluate: () => {
      secondAsked = true;
      return true;
    },
  };
  const start = Date.now();
  const late = await evaluatePolicy(allOf(slow, after), input, { timeoutMs: 40 });
  t.match(late, { allow: false, reason: 'policy-timeout' });
  t.ok(Date.now() - start < 1_000);
  await new Promise((r) => setImmediate(r));
  t.notOk(secondAsked, 'no constituent runs after the timeout');
});

t.test('names, onChange fan-in and argument checks', async (t) => {
  function riskPolicy() {
    return true;
  }
  const listeners: Array<() => void> = [];
  const changing: PolicyAdapter = {
    name: 'cedar',
    evaluate: () => true,
    onChange(l) {
      listeners.push(l);
      return () => listeners.splice(listeners.indexOf(l), 1);
    },
  };
  const composed = allOf(riskPolicy, changing, () => true);
  t.equal(composed.name, 'allOf(riskPolicy, cedar, #3)');
  let fired = 0;
  const off = composed.onChange!(() => fired++);
  listeners[0]!();
  t.equal(fired, 1);
  off();
  t.equal(listeners.length, 0);
  t.throws(() => allOf(), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(() => anyOf(42 as never), { code: 'ERR_CTLS_INVALID_OPTION' });
});
