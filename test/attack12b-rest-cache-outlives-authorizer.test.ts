// Attack: authorizeRequest() with a policy that declares its facts (a Cedar policy) makes a
// DecisionCache of its own and wraps the policy with cached(), which subscribes to the policy's
// onChange with a listener that holds that cache (policy/cache.ts: `inner?.onChange?.(changed)`).
// The subscription is only undone by the wrapper's close(), which a RequestAuthorizer never calls
// and does not offer. Every RequestAuthorizer made over one long-lived policy (per tenant, per
// mounted router, per reloaded route table) so leaves its cache reachable from the policy for the
// life of the process: up to its 16 MiB of decisions each, entries whose TTL passed included
// (they leave an LRU only when looked up or evicted), and one more onChange listener to run on
// every policy reload.
//
// A correct library ties nothing of a RequestAuthorizer to the policy beyond the authorizer's own
// life: the policy holds its cache weakly (or the authorizer offers close()), so an authorizer
// that is dropped takes its cache with it.
//
// Attack class: exhaustion (state that survives its owner).
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { authorizeRequest, cedarPolicy } from '../dist/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

t.test("a dropped RequestAuthorizer's decision cache is not kept by its policy", async (t) => {
  const policy = cedarPolicy({ policies: 'permit(principal, action, resource);' });
  t.teardown(() => policy.close());
  const caches: Array<WeakRef<object>> = [];
  const AUTHORIZERS = 20;
  for (let i = 0; i < AUTHORIZERS; i++) {
    const cache = authorizeRequest({ policy }).cache;
    if (cache !== undefined) caches.push(new WeakRef(cache));
  }
  t.equal(caches.length, AUTHORIZERS, 'each authorizer made a decision cache for the Cedar policy');
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const alive = caches.filter((ref) => ref.deref() !== undefined).length;
  t.ok(alive <= 1, `the dropped authorizers' caches are collected (${alive} of ${AUTHORIZERS} still reachable)`);
});
