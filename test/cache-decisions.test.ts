// DecisionCache + cached(): keys, TTLs, LRU bound, counters, flush on policy change, cheap hits.
import t from 'tap';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import { defaultCacheKey } from '../dist/policy/cache-key.js';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import type { AuthorizationInput, PolicyAdapter } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput, tokenInput } from './helpers/policy-input';
import { countAbortControllers } from './helpers/abort-controllers';

t.test('the default key names certificate, token claims, action and resource', async (t) => {
  const alice = certInput(certs.clientCert, 'GET', '/a');
  const key = defaultCacheKey(alice, []);
  // The leaf as its SHA-256 fingerprint in base64url: the 32 bytes fingerprint256 spells in hex.
  const digest = Buffer.from(alice.peer.certificate!.fingerprint256.replaceAll(':', ''), 'hex');
  t.equal(key, `${digest.toString('base64url')}|v||s3:GETs2:/a`);
  t.match(
    defaultCacheKey(tokenInput({ sub: 'bob', iat: 10, exp: 70 }, 'POST', '/b'), []),
    /^\|v\|[A-Za-z0-9_-]{43}\|s4:POSTs2:\/b$/,
  );
  t.not(
    defaultCacheKey(tokenInput({ sub: 'bob', iat: 11, exp: 71 }, 'POST', '/b')),
    defaultCacheKey(tokenInput({ sub: 'bob', iat: 10, exp: 70 }, 'POST', '/b')),
    'another token of the same subject is another key (its claims may differ)',
  );
  const both = certInput(certs.clientCert, 'GET', '/a', { token: { sub: 'carol' } });
  t.not(defaultCacheKey(both), key, 'another token subject over the same certificate is another key');
});

t.test('hits come from the cache, misses from the policy', async (t) => {
  let calls = 0;
  const policy = cached((input: AuthorizationInput) => {
    calls++;
    return input.request?.path === '/ok';
  });
  const ok = certInput(certs.clientCert, 'GET', '/ok');
  const first = await evaluatePolicy(policy, ok);
  const second = await evaluatePolicy(policy, ok);
  t.match(first, { allow: true, source: 'engine' });
  t.match(second, { allow: true, source: 'cache', reason: 'allowed' });
  t.equal(calls, 1);
  await evaluatePolicy(policy, certInput(certs.client2Cert, 'GET', '/ok'));
  t.equal(calls, 2, 'another certificate misses');
  t.match(policy.cache.stats(), { hits: 1, misses: 2, size: 2 });
});

t.test('TTL from the decision, default TTL, shorter TTL for denials', async (t) => {
  let clock = 1_000_000;
  const cache = new DecisionCache({ ttlMs: 1_000, denyTtlMs: 100, now: () => clock });
  let calls = 0;
  const policy = cached((input: AuthorizationInput) => {
    calls++;
    const path = input.request?.path;
    if (path === '/short') return { allow: true, ttlMs: 10 };
    return path !== '/deny';
  }, cache);
  const ask = (path: string) => evaluatePolicy(policy, tokenInput({ sub: 'u' }, 'GET', path), { now: () => clock });

  await ask('/allow');
  await ask('/deny');
  await ask('/short');
  t.equal(calls, 3);
  clock += 50;
  await ask('/allow');
  await ask('/deny');
  await ask('/short');
  t.equal(calls, 4, 'only the 10 ms decision expired');
  clock += 100;
  await ask('/allow');
  await ask('/deny');
  t.equal(calls, 5, 'the denial lapsed after 100 ms, the allow did not');
  clock += 1_000;
  await ask('/allow');
  t.equal(calls, 6, 'the allow lapsed after its default TTL');
  t.ok(cache.stats().expirations >= 3);
});

t.test('entries never outlive the token exp or the certificate', async (t) => {
  let clock = 1_000_000;
  const cache = new DecisionCache({ ttlMs: 60_000, now: () => clock });
  let calls = 0;
  const policy = cached(() => {
    calls++;
    return true;
  }, cache);
  const input = tokenInput({ sub: 'u', exp: (clock + 2_000) / 1000 });
  await evaluatePolicy(policy, input);
  clock += 1_000;
  t.equal((await evaluatePolicy(policy, input)).source, 'cache');
  clock += 1_500;
  t.equal((await evaluatePolicy(policy, input)).source, 'engine', 'the token expired');
  t.equal(calls, 2);
});

t.test('bounded LRU evicts the least recently used', async (t) => {
  const cache = new DecisionCache({ max: 2 });
  const decision = { allow: true, reason: 'x', expiresAt: Infinity, source: 'engine' as const };
  cache.set('a', decision);
  cache.set('b', decision);
  t.ok(cache.get('a'));
  cache.set('c', decision);
  t.equal(cache.get('b'), undefined, 'b was the least recently used');
  t.ok(cache.get('a'));
  t.ok(cache.get('c'));
  t.match(cache.stats(), { evictions: 1, size: 2, max: 2 });
});

t.test('a user key function; undefined means do not cache', async (t) => {
  let calls = 0;
  const cache = new DecisionCache({
    key: (input) =>
      input.context['risk'] === undefined ? undefined : `${input.token?.['sub']}|${input.context['risk']}`,
  });
  const policy = cached(() => {
    calls++;
    return true;
  }, cache);
  const withRisk = { ...tokenInput({ sub: 'u' }), context: { risk: 3 } };
  await evaluatePolicy(policy, withRisk);
  await evaluatePolicy(policy, withRisk);
  t.equal(calls, 1);
  await evaluatePolicy(policy, { ...withRisk, context: { risk: 9 } });
  t.equal(calls, 2, 'another risk score is another key');
  await evaluatePolicy(policy, tokenInput({ sub: 'u' }));
  await evaluatePolicy(policy, tokenInput({ sub: 'u' }));
  t.equal(calls, 4, 'uncacheable inputs always ask the policy');
});

t.test('failures are not cached', async (t) => {
  let fail = true;
  const policy = cached(() => {
    if (fail) throw new Error('down');
    return true;
  });
  const input = tokenInput({ sub: 'u' });
  t.match(await evaluatePolicy(policy, input), { allow: false, reason: 'policy-error' });
  fail = false;
  t.match(await evaluatePolicy(policy, input), { allow: true, source: 'engine' });
});

t.test('a policy change flushes the cache before listeners hear of it', async (t) => {
  let version = 1;
  const listeners = new Set<() => void>();
  const inner: PolicyAdapter = {
    name: 'versioned',
    evaluate: () => ({ allow: version === 1, reason: `v${version}` }),
    onChange(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const policy = cached(inner);
  const input = tokenInput({ sub: 'u' });
  t.match(await evaluatePolicy(policy, input), { allow: true, reason: 'v1' });
  t.match(await evaluatePolicy(policy, input), { allow: true, source: 'cache' });

  const seen: unknown[] = [];
  policy.onChange!(() => {
    seen.push(policy.cache.size);
  });
  version = 2;
  for (const l of listeners) l();
  t.same(seen, [0], 'the listener ran after the flush');
  t.match(await evaluatePolicy(policy, input), { allow: false, reason: 'v2', source: 'engine' });
  t.ok(policy.cache.stats().flushes >= 1);
  await policy.close!();
  t.equal(listeners.size, 1, "close dropped the wrapper's own subscription");
});

t.test('an answer computed before a flush is not stored after it', async (t) => {
  let release!: (v: boolean) => void;
  const policy = cached(
    () =>
      new Promise<boolean>((r) => {
        release = r;
      }),
  );
  const input = tokenInput({ sub: 'u' });
  const pending = evaluatePolicy(policy, input, { timeoutMs: 5_000 });
  policy.cache.flush();
  release(true);
  t.equal((await pending).allow, true);
  t.equal(policy.cache.size, 0);
});

t.test('one cache serves one policy; options are checked', async (t) => {
  const cache = new DecisionCache();
  cached(() => true, cache);
  t.throws(() => cached(() => false, cache), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(() => new DecisionCache({ max: 0 }), { code: 'ERR_CTLS_INVALID_OPTION', message: /"max"/ });
  t.throws(() => new DecisionCache({ ttlMs: -1 }), { code: 'ERR_CTLS_INVALID_OPTION' });
});

t.test('a hit is a key build plus a Map lookup (correctness of a tight loop)', async (t) => {
  const policy = cached(() => true);
  const input = certInput(certs.clientCert, 'GET', '/hot');
  await evaluatePolicy(policy, input);
  const n = 200_000;
  let allowed = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const d = policy.evaluate(input) as { allow: boolean; source: string };
    if (d.allow && d.source === 'cache') allowed++;
  }
  const ns = Number(process.hrtime.bigint() - start) / n;
  t.equal(allowed, n, 'every lookup was a synchronous cache hit');
  t.comment(`cache hit: ${ns.toFixed(0)} ns`);
  t.equal(policy.cache.stats().hits, n);
});

t.test('evaluatePolicy answers a hit with no AbortController, and gives a miss a live signal', async (t) => {
  const made = countAbortControllers(t);
  const signals: AbortSignal[] = [];
  let hang = false;
  const policy = cached({
    name: 'adapter',
    evaluate: (_input: AuthorizationInput, signal?: AbortSignal) => {
      signals.push(signal!);
      return hang ? new Promise<boolean>(() => {}) : true;
    },
  });
  const input = certInput(certs.clientCert, 'GET', '/fast');
  t.match(await evaluatePolicy(policy, input), { allow: true, source: 'engine' });
  t.equal(made(), 1, 'a miss makes one controller');
  t.type(signals[0], AbortSignal, 'and the adapter gets its signal');
  t.match(await evaluatePolicy(policy, input), { allow: true, source: 'cache' });
  t.equal(made(), 1, 'a hit makes none');
  t.match(policy.cache.stats(), { hits: 1, misses: 1 });

  hang = true;
  const late = certInput(certs.clientCert, 'GET', '/late');
  t.match(await evaluatePolicy(policy, late, { policyTimeout: 50 }), { allow: false, reason: 'policy-timeout' });
  t.equal(signals.length, 2);
  t.equal(signals[1]!.aborted, true, "a miss that times out has its adapter's signal aborted");
});
