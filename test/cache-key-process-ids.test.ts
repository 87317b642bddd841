// A DecisionCache spells each certificate in its keys as an id this process gave the certificate's
// fingerprint, not as the fingerprint: a shorter key is a cheaper hit. The ids must never let one
// certificate's cached answer serve another, however many certificates come and go.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import { CertIds, defaultCacheKey } from '../dist/policy/cache-key.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

const PEMS = [certs.clientCert, certs.client2Cert, certs.serverCert, certs.clientExpiredCert, certs.clientRevokedCert];

t.test("a cache's key names the certificate by a short id, defaultCacheKey by its fingerprint", async (t) => {
  const cache = new DecisionCache();
  cache.facts = ['request.method'];
  const alice = certInput(certs.clientCert, 'GET', '/a');
  const aliceAgain = certInput(certs.clientCert, 'GET', '/a');
  const bob = certInput(certs.client2Cert, 'GET', '/a');
  const key = cache.key(alice)!;
  const fingerprint = Buffer.from(
    (alice.peer.certificate as X509Certificate).fingerprint256.replaceAll(':', ''),
    'hex',
  ).toString('base64url');
  t.match(key, /^[0-9a-z]+\|v\|\|s3:GETs2:\/as3:GET$/, 'the leaf is a base-36 id');
  t.notOk(key.includes(fingerprint));
  t.ok(
    defaultCacheKey(alice, ['request.method'])!.startsWith(`${fingerprint}|`),
    'the public key keeps the fingerprint',
  );
  t.equal(cache.key(aliceAgain), key, 'another object of the same certificate has the same key');
  t.not(cache.key(bob), key, 'another certificate has another key');
  // A certificate inside a fact is spelled the same way.
  const inContext = (input: AuthorizationInput, cert: string) => {
    input.context = { cert: new X509Certificate(cert) };
    return input;
  };
  cache.facts = ['context.cert'];
  t.equal(cache.key(inContext(alice, certs.client2Cert)), cache.key(inContext(aliceAgain, certs.client2Cert)));
  t.not(cache.key(inContext(alice, certs.client2Cert)), cache.key(inContext(alice, certs.serverCert)));
});

t.test('a hit is shared by every object of one certificate and by no other certificate', async (t) => {
  const asked: string[] = [];
  const aliceSubject = new X509Certificate(certs.clientCert).subject;
  const policy = cached(
    Object.assign(
      (input: AuthorizationInput) => {
        const cn = (input.peer.certificate as X509Certificate).subject;
        asked.push(cn);
        return { allow: cn === aliceSubject, ttlMs: 60_000 };
      },
      { factsRead: () => ['peer.certificate', 'request.method'] },
    ),
    new DecisionCache(),
  );
  t.match(await policy.evaluate(certInput(certs.clientCert)), { allow: true });
  t.match(await policy.evaluate(certInput(certs.clientCert)), { allow: true, source: 'cache' });
  const server = (await policy.evaluate(certInput(certs.serverCert))) as { allow: boolean; source?: string };
  t.equal(server.allow, false, "another certificate never gets alice's answer");
  t.not(server.source, 'cache', 'another certificate is asked');
  t.equal(asked.length, 2);
});

t.test('ids never name two fingerprints, whatever the table forgets (model)', async (t) => {
  const pool = PEMS.map((pem) => new X509Certificate(pem));
  const fingerprintOf = new Map(pool.map((c, i) => [c, PEMS[i]!]));
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3 }),
      fc.array(fc.record({ which: fc.integer({ min: 0, max: PEMS.length - 1 }), fresh: fc.boolean() }), {
        minLength: 1,
        maxLength: 60,
      }),
      (max, steps) => {
        const ids = new CertIds(max);
        const seen = new Map<string, string>(); // id -> the PEM it was given for
        const byObject = new Map<X509Certificate, string>();
        for (const { which, fresh } of steps) {
          const cert = fresh ? new X509Certificate(PEMS[which]!) : pool[which]!;
          const pem = fresh ? PEMS[which]! : fingerprintOf.get(cert)!;
          const id = ids.of(cert);
          if (!/^[0-9a-z]+$/.test(id)) return false;
          const owner = seen.get(id);
          if (owner !== undefined && owner !== pem) return false;
          seen.set(id, pem);
          // One object keeps its id for its life.
          if (byObject.has(cert) && byObject.get(cert) !== id) return false;
          byObject.set(cert, id);
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
  // Within the table's bound, every object of a certificate gets the same id.
  const ids = new CertIds(PEMS.length);
  for (const pem of PEMS) t.equal(ids.of(new X509Certificate(pem)), ids.of(new X509Certificate(pem)));
});

t.test('a peer behind a getter keys nothing, and the key never runs the getter', async (t) => {
  const plain = certInput(certs.clientCert);
  let reads = 0;
  const input = { ...plain } as AuthorizationInput;
  // A getter could answer the key one thing (a plain peer) and the policy another (a Proxy, or
  // another peer): an accessor on a keyed path is never read by the key.
  Object.defineProperty(input, 'peer', {
    enumerable: true,
    get: () => (++reads === 1 ? plain.peer : new Proxy({ ...plain.peer }, {})),
  });
  t.equal(defaultCacheKey(input, ['peer.verified']), undefined);
  const cache = new DecisionCache();
  cache.facts = ['peer.verified'];
  t.equal(cache.key(input), undefined, 'the same through a cache');
  t.equal(reads, 0, 'the getter never ran');
  // Once a plain data property, the same peer is keyed.
  Object.defineProperty(input, 'peer', { enumerable: true, value: plain.peer });
  t.type(defaultCacheKey(input, ['peer.verified']), 'string');
});

t.test('a fact list that can still change is read on every key', async (t) => {
  const input = certInput(certs.clientCert, 'GET', '/a', { context: { tenant: 'a' } });
  const other = certInput(certs.clientCert, 'GET', '/a', { context: { tenant: 'b' } });
  const facts = ['request.method'];
  t.equal(defaultCacheKey(input, facts), defaultCacheKey(other, facts), 'the tenant is not a declared fact');
  facts.push('context.tenant');
  t.not(defaultCacheKey(input, facts), defaultCacheKey(other, facts), 'the fact added in place is keyed');
  const frozen = Object.freeze(['request.method', 'context.tenant']);
  t.not(defaultCacheKey(input, frozen), defaultCacheKey(other, frozen));
  t.equal(defaultCacheKey(input, frozen), defaultCacheKey(input, frozen), 'a frozen list keys the same each time');
});
