// Attack (cache key, crash): the key spells an ArrayBuffer, and every typed array or DataView, by
// its bytes, read through Buffer.from(buffer, offset, length). An ArrayBuffer that has been
// transferred (structuredClone(x, { transfer }), postMessage, ArrayBuffer#transfer) is detached,
// and Buffer.from on it throws a TypeError, not Uncacheable: defaultCacheKey rethrows it and the
// cached policy's evaluate() rejects. Any input whose context holds a detached buffer (or a view
// over one) is refused by the cache layer itself, whatever the policy says: here a policy that
// allows everything.
// A correct library spells a detached buffer exactly (it is a distinct state: byteLength 0 and
// `detached`), or decides the input uncached (Uncacheable); the key never throws anything else.
// Attack class: cache key soundness (9) / a crash out of the key.
import t from 'tap';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

function detached(): ArrayBuffer {
  const buffer = new ArrayBuffer(4);
  structuredClone(buffer, { transfer: [buffer] });
  return buffer;
}

const shapes: Array<[string, () => unknown]> = [
  ['a detached ArrayBuffer', () => detached()],
  [
    'a Uint8Array over a detached buffer',
    () => {
      // The view first: node refuses to make one over a buffer already detached.
      const buffer = new ArrayBuffer(4);
      const view = new Uint8Array(buffer);
      structuredClone(buffer, { transfer: [buffer] });
      return view;
    },
  ],
];

for (const facts of [['context.blob'], null]) {
  for (const [name, make] of shapes) {
    t.test(`${name} in the context does not make evaluate() throw (facts: ${JSON.stringify(facts)})`, async (t) => {
      const policy = cached(
        Object.assign(
          (_input: AuthorizationInput) => ({ allow: true }),
          facts === null ? {} : { factsRead: () => facts },
        ),
        new DecisionCache(),
      );
      const input = certInput(certs.clientCert, 'GET', '/files/1', { context: { blob: make() } });
      let result: unknown;
      try {
        result = await policy.evaluate(input);
      } catch (err) {
        result = `threw: ${(err as Error).message}`;
      }
      t.match(result, { allow: true }, 'the policy decides (uncached at worst)');
    });
  }
}
