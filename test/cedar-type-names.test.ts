// The compiled engine's memo of valid entity type names (policy/cedar/runtime.ts, `checkedNames`)
// is bounded in bytes: a long name is not remembered. A name it does not remember must still be
// checked in full every time, so that no spelling the compiled evaluator does not take (a reserved
// word, a character outside its grammar) gets past it because a similar name, or the same name,
// was accepted before.
import t from 'tap';
import { entityFromUid, Unrepresentable } from '../dist/policy/cedar/runtime.js';

function accepts(type: string): boolean {
  try {
    entityFromUid({ type, id: 'x' });
    return true;
  } catch (err) {
    if (err instanceof Unrepresentable) return false;
    throw err;
  }
}

t.test('a long type name, never remembered, is still validated every time', async (t) => {
  const long = 'Tenant' + 'x'.repeat(4096);
  for (let i = 0; i < 3; i++) t.ok(accepts(long), `a valid long name is accepted (round ${i})`);
  const invalid = [
    long + '-',
    long + '::if',
    long + '::principal',
    long + '::',
    long + '::9a',
    long + ' ',
    long + '\u00e9',
    '9' + long,
  ];
  for (let round = 0; round < 3; round++) {
    for (const name of invalid) {
      t.notOk(accepts(name), `an invalid long name is refused (round ${round}, ${JSON.stringify(name.slice(-4))})`);
    }
  }
  // Past the entry cap, short names are no longer remembered either, and are checked each time.
  for (let n = 0; n < 10_100; n++) accepts(`Filler${n}`);
  for (let round = 0; round < 3; round++) {
    t.notOk(accepts('Late::if'), `an invalid short name is refused past the cap (round ${round})`);
    t.notOk(accepts('Late-1'), `an invalid short name is refused past the cap (round ${round})`);
    t.ok(accepts('Late::Valid'), `a valid short name is accepted past the cap (round ${round})`);
    t.notOk(accepts(long + '::in'), `an invalid long name is refused past the cap (round ${round})`);
  }
});

t.test('a remembered short name is the same name, not a prefix or a look-alike', async (t) => {
  t.ok(accepts('App::User'));
  t.ok(accepts('App::User'));
  t.notOk(accepts('App::User::if'));
  t.notOk(accepts('App::User '));
  t.notOk(accepts('App::Use-r'));
  t.notOk(accepts('is'));
});
