// Edges the exact converters (what AuthZEN/OPA receive, what embedded Cedar receives) must not take
// for something else: an array stripped of its prototype, a hole that a polluted Array.prototype
// fills, and a Cedar escape whose members are getters answering differently when read again.
import t from 'tap';
import { exactJson } from '../dist/policy/exact-json.js';
import { toCedarRecord } from '../dist/policy/cedar/values.js';

const both = (value: unknown) => [() => exactJson({ v: value }, 'input', 'iso'), () => toCedarRecord({ v: value })];

t.test('an array whose prototype was set to null is refused, not read as a record of its indices', async (t) => {
  const roles = Object.setPrototypeOf(['admin'], null) as unknown[];
  const [json, cedar] = both(roles);
  t.throws(json!, { code: 'ERR_CTLS_PDP_INPUT', message: /array without the Array prototype/ });
  t.throws(cedar!, { code: 'ERR_CTLS_CEDAR_CONTEXT', message: /array without the Array prototype/ });
});

t.test('a hole stays a hole when Array.prototype has that index', async (t) => {
  const proto = Array.prototype as unknown as Record<number, unknown>;
  proto[1] = 'filled';
  t.teardown(() => {
    delete proto[1];
  });
  const holey: unknown[] = ['a', , 'c']; // eslint-disable-line no-sparse-arrays
  const [json, cedar] = both(holey);
  t.throws(json!, { code: 'ERR_CTLS_PDP_INPUT', message: /hole/ });
  t.throws(cedar!, { code: 'ERR_CTLS_CEDAR_CONTEXT', message: /hole/ });
});

t.test("a Cedar escape's members are read once", async (t) => {
  let reads = 0;
  const entity = {
    get type() {
      reads++;
      return reads === 1 ? 'User' : { not: 'a string' };
    },
    id: 'alice',
  };
  const out = toCedarRecord({ who: { __entity: entity } });
  t.same(out, { who: { __entity: { type: 'User', id: 'alice' } } }, 'what was checked is what is sent');
  t.equal(reads, 1);
});
