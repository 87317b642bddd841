// Attack (cache key, keyWithin/walk/encInto): the key reads each value once; the policy reads it
// again. An own accessor property (a getter) is neither refused nor spelled as what the policy will
// see: walk() takes it with hasOwnProperty and reads it, encInto() lists it with Object.keys and
// reads it, and keyWithin reads input.peer (now once, commit 28baa88) and peer.certificate without
// asking whether either is an accessor. test/attack10b-cache-key-prototype-getter.test.ts asks that
// "an inherited or accessor value" be decided uncached; only the inherited one is. So:
// - a declared fact behind a getter keys as 'guest' while the policy reads 'admin': the admin's
//   allow is stored under the guest's key, and a real guest is served it;
// - input.peer as a getter: the key names bob's certificate, the policy reads alice's, and bob is
//   served alice's allow;
// - a getter run during the key (in the signals) annotates the leaf after keyWithin found it bare:
//   the leaf is still keyed by its id, the policy reads the annotation, and a plain object of the
//   same certificate is served the answer made for the annotated one.
//
// A correct library decides an input holding an accessor on a keyed path uncached (or keys the
// value the policy reads), so in each case the second request is asked of the policy and denied.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

const aliceSubject = new X509Certificate(certs.clientCert).subject;

function leafPolicy(facts: string[], allow: (input: AuthorizationInput) => boolean) {
  return cached(
    Object.assign((input: AuthorizationInput) => ({ allow: allow(input), reason: 'r', ttlMs: 60_000 }), {
      factsRead: () => facts,
    }),
    new DecisionCache(),
  );
}

t.test('a declared fact behind an own getter is not keyed as its first answer', async (t) => {
  const policy = leafPolicy(['context.role'], (input) => (input.context as { role: string }).role === 'admin');
  const answers = ['guest', 'admin'];
  let reads = 0;
  const shifty = certInput(certs.clientCert, 'DELETE', '/x', {
    context: {
      get role() {
        return answers[Math.min(reads++, 1)];
      },
    },
  });
  await policy.evaluate(shifty);
  const guest = certInput(certs.clientCert, 'DELETE', '/x', { context: { role: 'guest' } });
  t.match(await policy.evaluate(guest), { allow: false }, "a guest is not served the getter's allow");
});

t.test('input.peer as a getter is not keyed as its first answer', async (t) => {
  const policy = leafPolicy(
    ['request.method'],
    (input) => (input.peer.certificate as X509Certificate).subject === aliceSubject,
  );
  const bobPeer = certInput(certs.client2Cert).peer;
  const alicePeer = certInput(certs.clientCert).peer;
  let reads = 0;
  const shifty = certInput(certs.client2Cert, 'GET', '/x');
  Object.defineProperty(shifty, 'peer', { enumerable: true, get: () => (reads++ === 0 ? bobPeer : alicePeer) });
  await policy.evaluate(shifty);
  const bob = certInput(certs.client2Cert, 'GET', '/x');
  t.match(await policy.evaluate(bob), { allow: false }, "bob is not served alice's allow");
});

t.test('a leaf annotated by a getter while the key is built is not keyed as bare', async (t) => {
  const policy = leafPolicy(['peer.certificate', 'request.method'], (input) => {
    const cert = input.peer.certificate as X509Certificate & { role?: string };
    return cert.role === 'admin';
  });
  const annotated = certInput(certs.clientCert, 'GET', '/x');
  const leaf = annotated.peer.certificate as X509Certificate;
  annotated.signals = {
    get device() {
      Object.defineProperty(leaf, 'role', { value: 'admin', enumerable: true, configurable: true });
      return 'managed';
    },
  } as unknown as AuthorizationInput['signals'];
  await policy.evaluate(annotated);
  const plain = certInput(certs.clientCert, 'GET', '/x', {
    signals: { device: 'managed' } as unknown as AuthorizationInput['signals'],
  });
  t.match(await policy.evaluate(plain), { allow: false }, 'a plain certificate is not served the annotated answer');
});
