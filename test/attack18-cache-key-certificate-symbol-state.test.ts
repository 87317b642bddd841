// Attack (cache key, isBareCertificate / fingerprintKey / CertIds): a certificate is "bare" when it
// is node's X509Certificate with no own string-named property; "A symbol-keyed property added to a
// certificate is not looked for: node keeps its own state there." That state is where the
// certificate is: node's X509Certificate reads every fact through its own symbol-keyed handle
// (Symbol(kHandle)) and getter memo (Symbol(kInternalState)), plain writable properties that any
// code holding the object can point at another certificate's. The key memoizes a certificate's
// spelling per object (fingerprintKeys, and since 28baa88 CertIds' #byObject id), so an object so
// repointed is keyed as the certificate it was when first keyed while the policy reads the other:
// bob's decision is stored under alice's id and served to alice. A symbol-keyed annotation of the
// app's own (a role stamped on the certificate) is likewise state the policy reads and the key
// never sees.
//
// A correct library refuses a certificate carrying symbol-keyed state beyond node's own, and does
// not trust a per-object memo for a certificate whose handle can change (or keys it by the handle),
// so in both cases the second request is asked of the policy.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

const bobSubject = new X509Certificate(certs.client2Cert).subject;

// Node 24 keeps a certificate's state under private symbols, which no code can reach.
const nodeStateVisible = Object.getOwnPropertySymbols(new X509Certificate(certs.client2Cert)).length > 0;

t.test(
  "a certificate repointed at another's handle is not keyed as its first self",
  {
    skip: !nodeStateVisible && "node's certificate state is private on this line",
  },
  async (t) => {
    const policy = cached(
      Object.assign(
        (input: AuthorizationInput) => ({
          allow: (input.peer.certificate as X509Certificate).subject === bobSubject,
          reason: 'subject',
          ttlMs: 60_000,
        }),
        { factsRead: () => ['request.method'] },
      ),
      new DecisionCache(),
    );
    const shifty = certInput(certs.clientCert, 'GET', '/x');
    const leaf = shifty.peer.certificate as X509Certificate;
    t.ok(policy.cache.key(shifty), 'alice is keyed (and her id memoized on the object)');
    const bob = new X509Certificate(certs.client2Cert);
    for (const s of Object.getOwnPropertySymbols(leaf))
      (leaf as unknown as Record<symbol, unknown>)[s] = (bob as unknown as Record<symbol, unknown>)[s];
    t.equal(leaf.subject, bobSubject, 'the object now reads as bob');
    t.match(await policy.evaluate(shifty), { allow: true }, 'the policy allows what it reads: bob');
    const alice = certInput(certs.clientCert, 'GET', '/x');
    t.match(await policy.evaluate(alice), { allow: false }, "alice is not served bob's allow");
  },
);

t.test('a symbol-keyed annotation on the certificate is not ignored by the key', async (t) => {
  const role = Symbol('role');
  const policy = cached(
    Object.assign(
      (input: AuthorizationInput) => ({
        allow: (input.peer.certificate as unknown as Record<symbol, unknown>)[role] === 'admin',
        reason: 'role',
        ttlMs: 60_000,
      }),
      { factsRead: () => ['peer.certificate', 'request.method'] },
    ),
    new DecisionCache(),
  );
  const stamped = certInput(certs.clientCert, 'GET', '/x');
  (stamped.peer.certificate as unknown as Record<symbol, unknown>)[role] = 'admin';
  t.match(await policy.evaluate(stamped), { allow: true });
  t.match(
    await policy.evaluate(certInput(certs.clientCert, 'GET', '/x')),
    { allow: false },
    'an unstamped one is asked',
  );
});
