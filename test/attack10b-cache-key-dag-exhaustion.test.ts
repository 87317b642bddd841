// Attack (exhaustion, pending work as a budget): the decision-cache key encodes every value a policy
// reads, recursively, bounded only by depth (32). An app context that shares objects (a group
// hierarchy whose members point at the same parent groups, a role graph loaded once and referenced
// from several places: a DAG, not a cycle) is encoded once per path through it, so a context with
// fan-out 4 and depth 10 costs a million encoded values, 4 s of synchronous CPU on every request
// (measured), and fan-out 8, depth 8 about a minute: the event loop, so every connection of the
// process, stalls, and policyTimeout cannot cut it because nothing awaits. The embedded Cedar engine
// the cache wraps bounds exactly this (values.ts: MAX_VALUES, 10,000 values per record, then the
// request is refused), but the key is built before Cedar runs (and, today, twice per miss).
//
// A correct library bounds the key builder's work as the converter bounds its own (a value budget:
// past it the input is decided uncached, or refused), so the cached policy does no more than a
// small multiple of the work of the policy it wraps.
import t from 'tap';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

/** A DAG of arrays, `fan` wide and `depth` deep, over one leaf that counts how often it is read. */
function dag(fan: number, depth: number, counter: { reads: number }): unknown {
  let node: unknown = Object.defineProperty({}, 'name', {
    enumerable: true,
    get: () => {
      counter.reads++;
      return 'group';
    },
  });
  for (let i = 0; i < depth; i++) node = Array.from({ length: fan }, () => node);
  return node;
}

t.test('a shared-object context costs the cached policy no more than the policy itself', async (t) => {
  const rules = 'permit(principal, action, resource) when { context.groups == [] };';
  const input = (counter: { reads: number }) =>
    certInput(certs.clientCert, 'GET', '/', { context: { groups: dag(4, 8, counter) } });

  const plain = { reads: 0 };
  const embedded = cedarPolicy({ policies: rules });
  t.teardown(() => embedded.close());
  t.match(await evaluatePolicy(embedded, input(plain), { timeoutMs: 5_000 }), { allow: false });
  t.ok(plain.reads <= 10_001, `embedded Cedar stops at its value budget (${plain.reads} reads)`);

  const viaCache = { reads: 0 };
  const inner = cedarPolicy({ policies: rules });
  t.teardown(() => inner.close());
  const policy = cached(inner, new DecisionCache());
  t.match(await evaluatePolicy(policy, input(viaCache), { timeoutMs: 5_000 }), { allow: false });
  t.ok(
    viaCache.reads <= 20_000,
    `the cache key stays within a budget too (${viaCache.reads} reads of a 65,536-path DAG)`,
  );
});
