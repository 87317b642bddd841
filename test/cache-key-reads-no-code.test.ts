// Building a decision cache's key runs none of the input's code, so nothing can answer the key one
// thing and the policy another, or change the input half-way through the key. Getters are refused
// (the input is decided uncached), the certificates the library hands out cannot be annotated,
// and verified token claims cannot be changed under a kept key.
import t from 'tap';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { defaultCacheKey } from '../dist/policy/cache-key.js';
import { parsedCertificate } from '../dist/tls/parsed-certificates.js';
import { TokenVerifier } from '../dist/http/token.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

/** A JSON-like value, with a getter (counting its calls) in place of some values. */
function valueArbitrary(calls: { n: number }) {
  const getterOf = (inner: unknown) => ({ getter: inner });
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)),
      fc.array(tie('tree'), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom('a', 'b', 'role', 'tenant'), tie('tree'), { maxKeys: 3 }),
      tie('tree').map(getterOf),
    ),
  }));
  // Turns every { getter: v } into an object whose `value` is an accessor answering v.
  const build = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(build);
    if (v !== null && typeof v === 'object') {
      if ('getter' in v && Object.keys(v).length === 1) {
        const inner = build((v as { getter: unknown }).getter);
        return Object.defineProperty({}, 'value', {
          enumerable: true,
          get() {
            calls.n++;
            return inner;
          },
        });
      }
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, build(x)]));
    }
    return v;
  };
  const hasGetter = (v: unknown): boolean =>
    Array.isArray(v)
      ? v.some(hasGetter)
      : v !== null && typeof v === 'object'
        ? ('getter' in v && Object.keys(v).length === 1) || Object.values(v).some(hasGetter)
        : false;
  return tree.map((raw) => ({ value: build(raw), hasGetter: hasGetter(raw) }));
}

t.test('a key never runs a getter, and keys nothing that holds one (model)', async (t) => {
  const calls = { n: 0 };
  fc.assert(
    fc.property(valueArbitrary(calls), fc.boolean(), ({ value, hasGetter }, declared) => {
      calls.n = 0;
      const input = certInput(certs.clientCert, 'GET', '/a', { context: { v: value } });
      const key = defaultCacheKey(input, declared ? ['context.v'] : null);
      if (calls.n !== 0) return false;
      return hasGetter ? key === undefined : typeof key === 'string';
    }),
    { numRuns: 400 },
  );
  t.pass('400 random contexts, with and without getters');
});

t.test('the input, its peer and its request are read as data, never through a getter', async (t) => {
  const base = certInput(certs.clientCert, 'GET', '/a');
  let ran = 0;
  for (const [owner, name] of [
    ['input', 'peer'],
    ['input', 'request'],
    ['input', 'token'],
    ['input', 'action'],
    ['peer', 'certificate'],
    ['peer', 'verified'],
    ['request', 'method'],
  ] as const) {
    const input = { ...base, peer: { ...base.peer }, request: { ...base.request! } } as AuthorizationInput;
    const target = owner === 'input' ? input : owner === 'peer' ? input.peer : input.request!;
    const value = (target as unknown as Record<string, unknown>)[name];
    Object.defineProperty(target, name, {
      enumerable: true,
      get() {
        ran++;
        return value;
      },
    });
    t.equal(defaultCacheKey(input, ['request.method']), undefined, `${owner}.${name} as a getter`);
  }
  t.equal(ran, 0, 'no getter ran');
});

t.test('a verified-or-not flag and its error are spelled exactly', async (t) => {
  const key = (peer: Record<string, unknown>) => {
    const input = certInput(certs.clientCert, 'GET', '/a');
    Object.assign(input.peer, peer);
    return defaultCacheKey(input, []);
  };
  const keys = [
    key({ verified: true }),
    key({ verified: 1 }),
    key({ verified: false }),
    key({ verified: false, verifyError: '' }),
    key({ verified: false, verifyError: 'a|b' }),
    key({ verified: false, verifyError: 'a' }),
  ];
  t.equal(new Set(keys).size, keys.length, 'each peer its own key');
});

t.test('the certificates the library parses are sealed and keyed as bare', async (t) => {
  const der = new X509Certificate(certs.clientCert).raw;
  const shared = parsedCertificate(der);
  t.equal(parsedCertificate(Buffer.from(der)), shared, 'one object per DER');
  t.notOk(Object.isExtensible(shared));
  t.throws(() => {
    (shared as unknown as Record<string, unknown>)['role'] = 'admin';
  }, TypeError);
  t.throws(() => Object.defineProperty(shared, Symbol('role'), { value: 'admin' }), TypeError);
  t.throws(() => Object.setPrototypeOf(shared, {}), TypeError);
  // Everything node offers still works on it.
  t.match(shared.subject, /CN=/);
  t.equal(shared.fingerprint256, new X509Certificate(certs.clientCert).fingerprint256);
  t.type(shared.toJSON(), 'string');
  const input = certInput(certs.clientCert, 'GET', '/a');
  input.peer.certificate = shared;
  input.peer.chain = [shared];
  t.type(defaultCacheKey(input, ['peer.certificate']), 'string', 'a sealed certificate keys');
  // A certificate an app made itself is still checked in full: an own symbol makes it uncacheable.
  const own = new X509Certificate(certs.clientCert);
  (own as unknown as Record<symbol, unknown>)[Symbol('role')] = 'admin';
  input.peer.certificate = own;
  t.equal(defaultCacheKey(input, ['peer.certificate']), undefined);
});

t.test('verified claims are frozen all the way down, and so are the remembered ones', async (t) => {
  const { SignJWT } = await import('jose');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const verifier = new TokenVerifier({ keys: publicKey, audience: 'api' });
  const jwt = await new SignJWT({ sub: 'alice', realm: { roles: ['reader'] } })
    .setProtectedHeader({ alg: 'ES256' })
    .setAudience('api')
    .setIssuedAt()
    .setExpirationTime('2m')
    .sign(privateKey);
  const first = await verifier.verify(`Bearer ${jwt}`);
  t.equal(first.status, 'valid');
  const claims = (first as { claims: Record<string, unknown> }).claims;
  t.ok(Object.isFrozen(claims));
  const realm = claims['realm'] as { roles: string[] };
  t.ok(Object.isFrozen(realm) && Object.isFrozen(realm.roles));
  t.throws(() => realm.roles.push('admin'), TypeError);
  const again = (await verifier.verify(`Bearer ${jwt}`)) as { claims: Record<string, unknown> };
  t.equal(again.claims, claims, 'the remembered claims are the same frozen object');
});
