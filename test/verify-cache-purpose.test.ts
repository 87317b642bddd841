// The verdict cache names everything its answer depends on: the trust context and its generation,
// the exact chain, and the purpose. A client certificate verified as a client's answers nothing
// about it as a server's (its extended key usage says clientAuth only).
import t from 'tap';
import { VerifyCache } from '../dist/authz/verify-cache.js';
import { createSecureContext } from '../dist/tls/context.js';
import { certs } from './helpers/certs';
import { pemChain } from './helpers/owned';

t.test('a verdict for one purpose does not answer the other', async (t) => {
  const trust = createSecureContext({ ca: certs.ca }, true);
  const chain = pemChain(certs.clientChain);
  const cache = new VerifyCache();
  const now = Date.now();
  t.equal(trust.verifyChain(chain, 'sslserver').ok, false, 'OpenSSL refuses it as a server certificate');
  t.equal(cache.verify(trust, chain, 'sslclient', now).ok, true, 'as a client certificate it verifies');
  t.equal(cache.verify(trust, chain, 'sslserver', now).ok, false, 'the cached client verdict is not reused');
});

t.test('an allowing verdict carries the chain OpenSSL built, anchor included', async (t) => {
  const trust = createSecureContext({ ca: certs.caChain }, true);
  const [leaf, intermediate] = pemChain(certs.clientChain);
  const [root] = pemChain(certs.ca);
  const verdict = new VerifyCache().verify(trust, [leaf!], 'sslclient', Date.now());
  t.equal(verdict.ok, true);
  t.same(
    verdict.chain?.map((certificate) => certificate.fingerprint256),
    [leaf!, intermediate!, root!].map((certificate) => certificate.fingerprint256),
  );
});
