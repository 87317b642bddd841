// The shared option checks: absent options take the fallback, wrong ones throw
// ERR_CTLS_INVALID_OPTION naming the option, right ones come back unchanged.
import t from 'tap';
import {
  checkBoolean,
  checkCount,
  checkDuration,
  checkFunction,
  checkObject,
  checkOneOf,
  checkString,
} from '../dist/common/validate.js';

const invalid = (name: string) => ({
  code: 'ERR_CTLS_INVALID_OPTION',
  message: new RegExp(`"${name.replace('.', '\\.')}"`),
});

t.test('durations', async (t) => {
  t.equal(checkDuration('a.b', undefined, 5), 5);
  t.equal(checkDuration('a.b', 7, 5), 7);
  t.equal(checkDuration('a.b', undefined), undefined);
  for (const bad of [0, -1, NaN, Infinity, '5', null])
    t.throws(() => checkDuration('a.b', bad, 5), invalid('a.b'), `rejects ${String(bad)}`);
  t.equal(checkDuration('a', 0, 5, { zero: true }), 0);
  t.equal(checkDuration('a', Infinity, 5, { infinite: true }), Infinity);
  t.throws(() => checkDuration('a', -0.5, 5, { zero: true }), invalid('a'));
  t.throws(() => checkDuration('a', NaN, 5, { infinite: true, zero: true }), invalid('a'));
});

t.test('counts', async (t) => {
  t.equal(checkCount('n', undefined, 3), 3);
  t.equal(checkCount('n', 1, 3), 1);
  for (const bad of [0, 1.5, -2, Infinity, 2 ** 53, '1'])
    t.throws(() => checkCount('n', bad, 3), invalid('n'), `rejects ${String(bad)}`);
  t.equal(checkCount('n', 0, 3, { min: 0 }), 0);
  t.equal(checkCount('n', Infinity, 3, { infinite: true }), Infinity);
  t.throws(() => checkCount('n', 0, 3, { infinite: true }), { message: /a positive integer or Infinity/ });
});

t.test('booleans, strings, functions, choices and objects', async (t) => {
  t.equal(checkBoolean('b', undefined, true), true);
  t.equal(checkBoolean('b', false, true), false);
  t.equal(checkBoolean('b', undefined), undefined);
  t.throws(() => checkBoolean('b', 'yes', true), invalid('b'));
  t.equal(checkString('s', 'x'), 'x');
  t.equal(checkString('s', ''), '');
  t.throws(() => checkString('s', '', { nonEmpty: true }), { message: /non-empty string/ });
  t.throws(() => checkString('s', 1), invalid('s'));
  const f = () => 1;
  t.equal(checkFunction('f', f), f);
  t.throws(() => checkFunction('f', {}), invalid('f'));
  t.equal(checkOneOf('m', undefined, ['strict', 'best-effort'] as const, 'strict'), 'strict');
  t.equal(checkOneOf('m', 'best-effort', ['strict', 'best-effort'] as const, 'strict'), 'best-effort');
  t.throws(() => checkOneOf('m', 'lax', ['strict', 'best-effort'] as const, 'strict'), {
    message: /'strict' or 'best-effort'/,
  });
  const o = { a: 1 };
  t.equal(checkObject('o', o), o);
  t.equal(checkObject('o', undefined), undefined);
  for (const bad of [null, [], 'x']) t.throws(() => checkObject('o', bad as never), invalid('o'));
});
