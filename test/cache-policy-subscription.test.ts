// A decision cache made by authorizeRequest() (or cached()) is subscribed to its policy's changes
// only weakly: the policy must not keep a dropped authorizer's cache alive
// (attack12b-rest-cache-outlives-authorizer). What must hold regardless: a live authorizer's cache
// is flushed by every policy change, however many collections ran meanwhile, so a cached allow
// never outlives the policy that made it.
import type { IncomingMessage } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { cached } from '../dist/policy/cache.js';
import { makeInput } from './helpers/policy-input';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const request = () => ({ method: 'GET', url: '/', headers: {}, socket: {} }) as unknown as IncomingMessage;

async function collect(rounds = 8): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A policy adapter that declares its facts (so authorizeRequest caches) and can report a change. */
function switchable() {
  const listeners = new Set<() => void>();
  const state = { allow: true, evaluations: 0 };
  const policy = {
    name: 'switchable',
    factsRead: () => ['request.path'],
    evaluate: () => {
      state.evaluations++;
      return state.allow;
    },
    onChange(listener: () => void) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
  const change = (allow: boolean): void => {
    state.allow = allow;
    for (const listener of [...listeners]) listener();
  };
  return { policy, state, listeners, change };
}

t.test("a live authorizer's cached allow is flushed by a policy change after many collections", async (t) => {
  const { policy, state, change } = switchable();
  const authz = authorizeRequest({ policy });
  t.ok(authz.cache, 'the authorizer made a decision cache');
  for (let round = 0; round < 5; round++) {
    change(true);
    t.equal((await authz.authorize(request())).allowed, true, `round ${round}: allowed`);
    const asked = state.evaluations;
    t.equal((await authz.authorize(request())).allowed, true, `round ${round}: allowed again`);
    t.equal(state.evaluations, asked, `round ${round}: the second answer came from the cache`);
    // Unrelated authorizers over the same policy come and go meanwhile.
    for (let i = 0; i < 10; i++) authorizeRequest({ policy });
    await collect();
    change(false);
    t.equal((await authz.authorize(request())).allowed, false, `round ${round}: denied once the policy changed`);
    t.equal(state.evaluations, asked + 1, `round ${round}: the policy was asked again`);
  }
});

t.test('a live cached() wrapper is flushed after many collections; a closed one unsubscribes', async (t) => {
  const { policy, state, change, listeners } = switchable();
  const wrapper = cached(policy);
  const input = makeInput({ request: { method: 'GET', path: '/', headers: {} } });
  const allowed = async (): Promise<boolean> => {
    const d = await wrapper.evaluate(input);
    return typeof d === 'boolean' ? d : (d as { allow: boolean }).allow;
  };
  t.equal(await allowed(), true);
  t.equal(await allowed(), true);
  t.equal(state.evaluations, 1, 'the second answer came from the cache');
  await collect();
  change(false);
  t.equal(await allowed(), false, 'denied once the policy changed');
  t.equal(state.evaluations, 2);
  t.equal(listeners.size, 1, 'one subscription');
  await wrapper.close?.();
  t.equal(listeners.size, 0, 'close() unsubscribes');
});

t.test("dropped authorizers' subscriptions leave the policy", async (t) => {
  const { policy, listeners, change } = switchable();
  const authz = authorizeRequest({ policy });
  for (let i = 0; i < 20; i++) authorizeRequest({ policy });
  t.equal(listeners.size, 21);
  await collect();
  await new Promise((resolve) => setTimeout(resolve, 20));
  // Whatever the finalizers have not removed yet goes at the next change.
  change(false);
  t.ok(listeners.size <= 2, `${listeners.size} subscriptions left, the live authorizer's among them`);
  t.equal((await authz.authorize(request())).allowed, false, 'the live authorizer follows the change');
});
