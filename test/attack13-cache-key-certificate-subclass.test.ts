// Attack (cache key soundness): the key spells any X509Certificate, wherever it sits in the input
// (peer.certificate, a fact that walks to it, a value in the app's context), as its SHA-256
// fingerprint alone, and a declared fact under it (`context.grant.scope`) stops at the certificate
// ("a certificate stands for all its facts"). That holds for node's own X509Certificate objects,
// which are immutable DER. It does not for a subclass: an app's `class Grant extends
// X509Certificate` carries state of its own (a scope, a delegation) or overrides a getter
// (`subject`), and a policy reads it. Two grants built from one certificate with different scopes
// get one key, and a cached allow for the `admin` grant answers the `read` one. Every other class
// instance is refused as Uncacheable for exactly this reason (state the key cannot see).
//
// A correct library keys a certificate by its fingerprint only when it is a plain X509Certificate
// (prototype X509Certificate.prototype, no own properties), and treats anything else (a subclass,
// an annotated certificate) as Uncacheable, so the policy is asked.
//
// Attack class: cache key soundness (9).
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

class Grant extends X509Certificate {
  constructor(
    pem: string,
    readonly scope: string,
  ) {
    super(pem);
  }
}

t.test('a certificate subclass with state of its own is not keyed by its fingerprint alone', async (t) => {
  const policy = cached(
    Object.assign((input: AuthorizationInput) => (input.context as { grant: Grant }).grant.scope === 'admin', {
      factsRead: ['context.grant'],
    }),
    new DecisionCache(),
  );
  const withGrant = (scope: string) =>
    certInput(certs.clientCert, 'DELETE', '/users/1', { context: { grant: new Grant(certs.client2Cert, scope) } });
  t.match(await policy.evaluate(withGrant('admin')), { allow: true });
  t.match(await policy.evaluate(withGrant('read')), { allow: false }, 'the read grant is not served the admin allow');
});

t.test('the same, as the leaf: a fact under peer.certificate reads the subclass', async (t) => {
  const policy = cached(
    Object.assign((input: AuthorizationInput) => (input.peer.certificate as unknown as Grant).scope === 'admin', {
      factsRead: ['peer.certificate.scope'],
    }),
    new DecisionCache(),
  );
  const asLeaf = (scope: string) => {
    const input = certInput(certs.clientCert, 'DELETE', '/users/1');
    const leaf = new Grant(certs.clientCert, scope);
    input.peer.certificate = leaf;
    input.peer.chain = [leaf];
    return input;
  };
  t.match(await policy.evaluate(asLeaf('admin')), { allow: true });
  t.match(await policy.evaluate(asLeaf('read')), { allow: false }, 'the read grant is not served the admin allow');
});
