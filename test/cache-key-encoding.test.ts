// The whole-input cache key (a policy that declares no facts) follows the input as it is now: a value
// changed in place after a hit is another key, and encoded property names are only ever a spelling.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import { defaultCacheKey, encodeValue } from '../dist/policy/cache-key.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

t.test('an input changed in place after a hit is decided again', async (t) => {
  const seen: unknown[] = [];
  const policy = cached((input: AuthorizationInput) => {
    const tenant = (input.context as { tenant?: { id?: string } } | undefined)?.tenant?.id;
    seen.push(tenant);
    return { allow: tenant === 'a', ttlMs: 60_000 };
  }, new DecisionCache());
  const input = certInput(certs.clientCert, 'GET', '/a', { context: { tenant: { id: 'a' } } });
  t.match(await policy.evaluate(input), { allow: true });
  t.match(await policy.evaluate(input), { allow: true, source: 'cache' });
  (input.context as { tenant: { id: string } }).tenant.id = 'b';
  t.match(await policy.evaluate(input), { allow: false }, 'a nested value changed in place is not the cached one');
  input.request!.headers['x-extra'] = '1';
  t.notMatch(await policy.evaluate(input), { source: 'cache' }, 'a header added in place is another key');
  t.same(seen, ['a', 'b', 'b']);
});

t.test('property names encode the same however many distinct names were seen', async (t) => {
  const before = encodeValue({ host: 'h', 'x-one': '1' });
  const keys = new Set<string>();
  // More distinct header names than the encoder keeps spelled out: each still keys on its own.
  for (let i = 0; i < 3000; i++) {
    const input = certInput(certs.clientCert, 'GET', '/a');
    input.request!.headers[`x-name-${i}`] = 'v';
    keys.add(defaultCacheKey(input, null));
  }
  t.equal(keys.size, 3000, 'every header name gives its own key');
  const long = 'x'.repeat(5000);
  t.equal(encodeValue({ [long]: 1 }), `{s5000:${long}n1;}`, 'a long name encodes in full');
  t.equal(encodeValue({ [long]: 2 }), `{s5000:${long}n2;}`);
  t.equal(encodeValue({ host: 'h', 'x-one': '1' }), before);
  t.equal(encodeValue({ ab: 'c' }), '{s2:abs1:c}');
  t.not(encodeValue({ ab: 'c' }), encodeValue({ a: 'bc' }), 'names are length-prefixed like values');
  const holey = [1, undefined, 'hole', 'x'];
  delete holey[2];
  t.equal(encodeValue(holey), '[n1;UUs1:x]', 'a hole encodes as undefined');
});

t.test('a certificate encodes as its whole SHA-256 fingerprint', async (t) => {
  const alice = new X509Certificate(certs.clientCert);
  const bob = new X509Certificate(certs.client2Cert);
  const digest = Buffer.from(alice.fingerprint256.replaceAll(':', ''), 'hex');
  t.equal(encodeValue(alice), `c${digest.toString('base64url')};`);
  t.equal(
    encodeValue(new X509Certificate(certs.clientCert)),
    encodeValue(alice),
    'the same certificate, another object',
  );
  t.not(encodeValue([alice]), encodeValue([bob]));
  const a = certInput(certs.clientCert, 'GET', '/a');
  const b = certInput(certs.clientCert, 'GET', '/a', { peer: { ...a.peer, chain: [alice, bob] } });
  t.not(defaultCacheKey(a, null), defaultCacheKey(b, null), 'another chain behind the same leaf is another key');
});
