// The whole-input cache key (a policy that declares no facts) follows the input as it is now: a value
// changed in place after a hit is another key, and encoded property names are only ever a spelling.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import { defaultCacheKey, encodeValue } from '../dist/policy/cache-key.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';
import { client, startHttps } from './helpers/policy-https';
import { authorizeRequest } from '../dist/http/authorize-request.js';

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
    keys.add(defaultCacheKey(input, null)!);
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
  // A hole reads as undefined, yet forEach and `in` skip it: such an input is decided uncached.
  t.equal(
    defaultCacheKey(certInput(certs.clientCert, 'GET', '/a', { context: { list: holey } }), ['context.list']),
    undefined,
    'an array with a hole keys nothing',
  );
  t.equal(encodeValue([1, undefined, 'x']), '[n1;Us1:x]', 'undefined is a value like any other');
  t.not(encodeValue({ n: -0 }), encodeValue({ n: 0 }), '-0 and 0 key apart');
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

t.test("the leaf's part of the key tells certificates and app-built stand-ins apart", async (t) => {
  const alice = new X509Certificate(certs.clientCert);
  const bob = new X509Certificate(certs.client2Cert);
  const withLeaf = (certificate: unknown) => {
    const input = certInput(certs.clientCert, 'GET', '/a');
    (input.peer as { certificate?: unknown }).certificate = certificate;
    return defaultCacheKey(input, []);
  };
  t.equal(withLeaf(new X509Certificate(certs.clientCert)), withLeaf(alice), 'the same certificate, another object');
  t.not(withLeaf(alice), withLeaf(bob));
  // An app may build its own input with something else in peer.certificate: it never keys as a
  // certificate, whatever fingerprint it claims, and two claims key apart.
  const digest = Buffer.from(alice.fingerprint256.replaceAll(':', ''), 'hex').toString('base64url');
  const claims = [alice.fingerprint256, digest, `${digest}|v|`, 'other'];
  const keys = new Set([withLeaf(alice), withLeaf(undefined), ...claims.map((fp) => withLeaf({ fingerprint256: fp }))]);
  t.equal(keys.size, 2 + claims.length, 'every leaf keys on its own');
  t.ok(withLeaf(alice)!.startsWith(`${digest}|`));
});

t.test('a fact that is the leaf itself keys as a reference to it, and only then', async (t) => {
  const alice = new X509Certificate(certs.clientCert);
  const aliceAgain = new X509Certificate(certs.clientCert);
  const bob = new X509Certificate(certs.client2Cert);
  const stand = { fingerprint256: alice.fingerprint256 };
  const values: unknown[] = [alice, aliceAgain, bob, stand, undefined, 'C', { C: 1 }];
  // What a policy reading peer.certificate and context.cert can tell apart: each value's
  // fingerprint when it is a certificate, the value itself otherwise.
  const meaning = (v: unknown) => (v instanceof X509Certificate ? `cert:${v.fingerprint256}` : v);
  const keyOf = (leaf: unknown, fact: unknown) => {
    const input = certInput(certs.clientCert, 'GET', '/a', { context: { cert: fact } });
    (input.peer as { certificate?: unknown }).certificate = leaf;
    return defaultCacheKey(input, ['peer.certificate', 'context.cert']);
  };
  t.match(keyOf(alice, alice), /\|s3:GETs2:\/aCC$/, 'the leaf and a fact holding it are each one character');
  const pick = fc.integer({ min: 0, max: values.length - 1 });
  fc.assert(
    fc.property(pick, pick, pick, pick, (l1, f1, l2, f2) => {
      const same = keyOf(values[l1], values[f1]) === keyOf(values[l2], values[f2]);
      if (!same) return true;
      // Equal keys only where the policy would see equal facts.
      return t.same(meaning(values[l1]), meaning(values[l2])) && t.same(meaning(values[f1]), meaning(values[f2]));
    }),
    { numRuns: 500 },
  );
});

t.test('values are keyed by their whole state, tagged with their kind', async (t) => {
  const key = (context: Record<string, unknown>) =>
    defaultCacheKey(certInput(certs.clientCert, 'GET', '/a', { context }), ['context.v']);
  const differ: Array<[string, unknown, unknown]> = [
    ['Dates', new Date(1), new Date(2)],
    ['Maps', new Map([['role', 'admin']]), new Map([['role', 'user']])],
    ['Map keys', new Map([['a', 1]]), new Map([['b', 1]])],
    ['Sets', new Set(['admin']), new Set(['user'])],
    ['URLs', new URL('https://a.test/'), new URL('https://b.test/')],
    ['RegExps', /a/g, /a/i],
    // Buffer.alloc: a Buffer of its own, where Buffer.from('a') is a window onto node's pool.
    ['Buffers', Buffer.alloc(1, 'a'), Buffer.alloc(1, 'b')],
    ['typed arrays of other kinds, same bytes', new Uint8Array(4), new Int32Array(1)],
    ['boxed numbers', Object(1), Object(2)],
    ['a Date and its time', new Date(5), 5],
    ['a Set and an array', new Set([1]), [1]],
    ['a Map and an object', new Map([['a', 1]]), { a: 1 }],
    ['an empty Map and an empty object', new Map(), {}],
  ];
  for (const [name, a, b] of differ) t.not(key({ v: a }), key({ v: b }), `${name} key apart`);
  t.equal(key({ v: new Date(7) }), key({ v: new Date(7) }), 'equal Dates share a key');
  t.equal(key({ v: new Set([1, 2]) }), key({ v: new Set([1, 2]) }), 'equal Sets share a key');
  t.equal(key({ v: Buffer.alloc(2, 'a') }), key({ v: Buffer.alloc(2, 'a') }), 'equal Buffers share a key');
  // A window onto a larger buffer shows the rest through .buffer: decided uncached.
  t.equal(key({ v: Buffer.from('a') }), undefined, "a Buffer from node's pool keys nothing");
  t.equal(key({ v: new Uint8Array(8).subarray(2, 4) }), undefined, 'nor does a subarray');
});

t.test('a value the key cannot spell makes the input uncached, not keyed as something else', async (t) => {
  class Session {
    #role: string;
    constructor(role: string) {
      this.#role = role;
    }
    get role(): string {
      return this.#role;
    }
  }
  for (const [name, value] of [
    ['a class instance', new Session('admin')],
    ['a function', () => 'admin'],
    ['a symbol', Symbol('admin')],
    ['a Promise', Promise.resolve('admin')],
    ['a Set subclass', new (class Roles extends Set<string> {})(['admin'])],
    ['a boxed string with a property of its own', Object.assign(new String('admin'), { role: 'x' })],
    ['a typed array longer than 4,096 elements', new Uint8Array(4097)],
    ['a Proxy', new Proxy({}, { get: () => 'admin' })],
  ] as Array<[string, unknown]>) {
    const input = certInput(certs.clientCert, 'GET', '/a', { context: { v: value } });
    t.equal(defaultCacheKey(input, ['context.v']), undefined, `${name}: no key`);
    t.equal(defaultCacheKey(input, null), undefined, `${name}: no whole-input key either`);
  }
  const seen: string[] = [];
  const policy = cached((input: AuthorizationInput) => {
    const role = ((input.context as { s: Session }).s as Session).role;
    seen.push(role);
    return { allow: role === 'admin', ttlMs: 60_000 };
  }, new DecisionCache());
  const as = (role: string) => certInput(certs.clientCert, 'GET', '/a', { context: { s: new Session(role) } });
  t.match(await policy.evaluate(as('admin')), { allow: true });
  t.match(await policy.evaluate(as('user')), { allow: false }, 'decided again, not served the cached allow');
  t.same(seen, ['admin', 'user']);
});

t.test("a RegExp keys on its lastIndex too: a global one's test() reads it", async (t) => {
  const key = (lastIndex: number) => {
    const pattern = /admin/g;
    pattern.lastIndex = lastIndex;
    return defaultCacheKey(certInput(certs.clientCert, 'GET', '/a', { context: { v: pattern } }), ['context.v']);
  };
  t.not(key(0), key(3));
  t.equal(key(3), key(3));
  t.ok(defaultCacheKey(certInput(certs.clientCert, 'GET', '/a', { context: { v: new Uint8Array(4096) } }), null));
});

t.test("a REST request's whole input, as the library builds it, is keyed", async (t) => {
  const inputs: AuthorizationInput[] = [];
  const authz = authorizeRequest({
    policy: (input) => {
      inputs.push(input);
      return true;
    },
    cache: false,
    context: () => ({ at: new Date(), tags: new Set(['x']) }),
  });
  const get = client(
    t,
    await startHttps(
      t,
      authz.node((_req, res) => res.end('ok')),
    ),
    'alice',
  );
  t.equal((await get('GET', '/a?b=1', { 'x-tenant': 'a' })).status, 200);
  t.equal(inputs.length, 1);
  t.type(defaultCacheKey(inputs[0]!, null), 'string', 'whole input: a key');
});

t.test('a shared-object graph with more paths than the key budget is decided uncached, quickly', async (t) => {
  let node: unknown = { name: 'group' };
  for (let i = 0; i < 24; i++) node = [node, node]; // 2^24 paths, 25 objects
  const input = certInput(certs.clientCert, 'GET', '/a', { context: { groups: node } });
  const started = performance.now();
  t.equal(defaultCacheKey(input, ['context.groups']), undefined, 'no key');
  t.equal(defaultCacheKey(input, null), undefined, 'no whole-input key');
  t.ok(performance.now() - started < 1_000, 'and no walk of every path');
});

t.test("the library's own input parts skip the hidden-state check; the app's never do", async (t) => {
  const inputs: AuthorizationInput[] = [];
  const authz = authorizeRequest({
    policy: (input) => {
      inputs.push(input);
      return true;
    },
    cache: false,
    context: () => ({ tenant: 'a' }),
  });
  const get = client(
    t,
    await startHttps(
      t,
      authz.node((_req, res) => res.end('ok')),
    ),
    'alice',
  );
  t.equal((await get('GET', '/a', { 'x-tenant': 'a' })).status, 200);
  const built = inputs[0]!;
  // The same input, made by an app: every part a fresh plain object.
  const copy = (): AuthorizationInput => ({
    ...built,
    peer: { ...built.peer, chain: [...built.peer.chain] },
    connection: { ...built.connection },
    request: { ...built.request!, headers: { ...built.request!.headers } },
    context: { ...(built.context as object) },
  });
  const key = defaultCacheKey(built, null);
  t.type(key, 'string');
  t.equal(defaultCacheKey(copy(), null), key, 'skipping the check never changes the spelling');

  const hidden = (o: object): void => void Object.defineProperty(o, 'role', { value: 'admin', enumerable: false });
  const appPeer = copy();
  hidden(appPeer.peer);
  t.equal(defaultCacheKey(appPeer, null), undefined, "an app's own input is checked in every part");
  const appChain = copy();
  appChain.peer.chain.length = 3; // a hole at the end
  t.equal(defaultCacheKey(appChain, null), undefined, "an app's own chain with a hole keys nothing");

  const appContext = copy();
  hidden(appContext.context);
  const builtContext = inputs[0]!;
  builtContext.context = appContext.context;
  t.equal(defaultCacheKey(builtContext, null), undefined, "the app's context is checked in the library's input too");
  builtContext.context = {};
  builtContext.signals = Object.defineProperty({}, 'device', { value: 'lost', enumerable: false });
  t.equal(defaultCacheKey(builtContext, null), undefined, 'and so are the signals');
});
