// A chain that verified cleanly is not verified again while nothing that decides the outcome has
// changed (native/verified_chains.cc). These tests hold the cache to that: it answers a repeated
// chain, forgets everything when the store is swapped, ends an entry at the chain's notAfter and at a
// CRL's nextUpdate, never keeps a failure or a stale-CRL pass, and a handshake or re-authentication
// answered from it looks exactly like one OpenSSL verified.
import t from 'tap';
import { reauthorize } from '../dist/index.js';
import { contextHandle, createSecureContext, type SecureContext } from '../dist/tls/context.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { X509Certificate } from 'node:crypto';
import { closed, derChain } from './helpers/owned';
import { connectPair, delay, makePki, mtlsOptions, startServer } from './helpers/mtls';

const stats = (context: SecureContext): { decoded: number; verified: number; verifiedHits: number } =>
  contextHandle(context).cacheStats();

/** Waits until the wall clock is past `at` (ms) by more than a second: OpenSSL counts in whole seconds. */
async function until(at: number): Promise<void> {
  const wait = at + 1100 - Date.now();
  if (wait > 0) await delay(wait);
}

t.test('a repeated chain is answered from the cache until setCrl swaps the store', async (t) => {
  const pki = await makePki();
  const context = createSecureContext({ ca: pki.ca.rootCert, crl: await pki.ca.crls() }, true);
  const chain = derChain(pki.client.chain);

  t.same(context.verifyChain(chain), { ok: true }, 'first verification');
  t.equal(stats(context).verified, 1, 'the clean success is kept');
  const hits = stats(context).verifiedHits;
  t.same(context.verifyChain(chain), { ok: true });
  t.same(context.verifyChain(derChain(pki.client.chain)), { ok: true }, 'the same bytes in new buffers');
  t.equal(stats(context).verifiedHits, hits + 2, 'both answered from the cache');
  t.same(context.verifyChain(chain, 'sslserver').ok, false, 'another purpose is verified for itself (and fails)');

  pki.ca.revoke(pki.client.serial);
  context.setCrl(await pki.ca.crls());
  t.equal(stats(context).verified, 0, 'a new store empties the cache');
  t.match(context.verifyChain(chain), { ok: false, code: 'CERT_REVOKED' }, 'the revocation is seen at once');
  t.equal(stats(context).verifiedHits, hits + 2, 'no hit after the swap');
});

t.test('failures are verified every time and never kept', async (t) => {
  const pki = await makePki();
  const other = await DevelopmentCA.create({ commonName: 'Other CA' });
  const stranger = await other.issueClient({ commonName: 'mallory' });
  const context = createSecureContext({ ca: pki.ca.rootCert }, true);
  for (let i = 0; i < 3; i++) {
    t.match(
      context.verifyChain(derChain(stranger.chain)),
      { ok: false, code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' },
      `pass ${i + 1}`,
    );
  }
  t.same(stats(context), { ...stats(context), verified: 0, verifiedHits: 0 }, 'nothing kept, nothing answered');
});

t.test('an entry ends at the earliest notAfter of the chain', async (t) => {
  const pki = await makePki();
  const shortLived = await pki.ca.issueClient({ commonName: 'brief', validityMs: 2500 });
  const context = createSecureContext({ ca: pki.ca.rootCert }, true);
  const chain = derChain(shortLived.chain);
  t.same(context.verifyChain(chain), { ok: true });
  t.same(context.verifyChain(chain), { ok: true });
  t.equal(stats(context).verifiedHits, 1, 'kept while the certificate is valid');

  await until(shortLived.notAfter.getTime());
  // The entry's own 60 s lifetime has not run out: only its notAfter bound can refuse it.
  t.match(context.verifyChain(chain), { ok: false, code: 'CERT_HAS_EXPIRED' }, 'expired, cache or not');
  t.equal(stats(context).verifiedHits, 1, 'the entry was not used past notAfter');
});

t.test("an entry ends at a CRL's nextUpdate; a stale-CRL pass in best-effort mode is never kept", async (t) => {
  const pki = await makePki();
  const nextUpdate = Math.ceil((Date.now() + 2000) / 1000) * 1000;
  const crl = await pki.ca.crls({ thisUpdate: new Date(nextUpdate - 61_000), nextUpdateMs: 61_000 });
  const strict = createSecureContext({ ca: pki.ca.rootCert, crl, revocation: 'strict' }, true);
  const lenient = createSecureContext({ ca: pki.ca.rootCert, crl, revocation: 'best-effort' }, true);
  const chain = derChain(pki.client.chain);
  for (const context of [strict, lenient]) {
    t.same(context.verifyChain(chain), { ok: true });
    t.same(context.verifyChain(chain), { ok: true });
    t.equal(stats(context).verifiedHits, 1, 'kept while the CRL is current');
  }

  await until(nextUpdate);
  t.match(strict.verifyChain(chain), { ok: false, code: 'CRL_HAS_EXPIRED' }, 'strict: the stale CRL fails the chain');
  t.equal(stats(strict).verifiedHits, 1, 'the entry was not used past nextUpdate');
  t.same(lenient.verifyChain(chain), { ok: true }, 'best-effort: the stale CRL still counts');
  t.same(lenient.verifyChain(chain), { ok: true });
  t.equal(stats(lenient).verifiedHits, 1, 'a pass over a stale CRL is verified every time');
});

t.test('fresh re-authentications answered from the cache look like verified ones', async (t) => {
  const pki = await makePki();
  const bob = await pki.ca.issueClient({ commonName: 'bob' });
  const { server, port } = await startServer(t, mtlsOptions(pki, { crl: await pki.ca.crls(), minVersion: 'TLSv1.3' }));
  const alice = await connectPair(t, server, port, pki);
  const other = await connectPair(t, server, port, pki, bob);
  const before = stats(server.secureContext);
  t.equal(before.verified, 2, 'each handshake kept its client chain');

  for (let i = 0; i < 3; i++) {
    const decision = await reauthorize(alice.socket, { fresh: true });
    t.match(decision, { allow: true, reason: 'verified' }, `re-authentication ${i + 1}`);
  }
  t.equal(stats(server.secureContext).verifiedHits, before.verifiedHits + 3, 'each one answered from the cache');
  t.equal(alice.socket.authorized, true);
  // The verified chain runs up to the anchor, as after a real verification.
  let certificate: ReturnType<typeof alice.socket.getPeerCertificate> | undefined =
    alice.socket.getPeerCertificate(true);
  const seen: string[] = [];
  while (certificate !== undefined && 'fingerprint256' in certificate && !seen.includes(certificate.fingerprint256)) {
    seen.push(certificate.fingerprint256);
    certificate = (certificate as { issuerCertificate?: typeof certificate }).issuerCertificate;
  }
  t.equal(seen.length, 3, 'leaf, intermediate and root');
  t.equal(seen[2], new X509Certificate(pki.ca.rootCert).fingerprint256, 'ending at the trust anchor');

  // A store swapped on the context itself empties the cache all the same, and the context's
  // connections are re-decided against the new store: alice is cut, bob stays.
  pki.ca.revoke(pki.client.serial);
  server.secureContext.setCrl(await pki.ca.crls());
  t.equal(stats(server.secureContext).verified, 0, 'the swap emptied the cache');
  await closed(alice.socket);
  t.match(
    (alice.socket.destroyReason as Error & { decision?: unknown }).decision,
    { allow: false, reason: 'CERT_REVOKED' },
    'alice is revoked at once',
  );
  t.equal(stats(server.secureContext).verified, 1, "the sweep verified bob's chain against the new store and kept it");
  const hits = stats(server.secureContext).verifiedHits;
  t.match(
    await reauthorize(other.socket, { fresh: true }),
    { allow: true, reason: 'verified' },
    'bob is still allowed',
  );
  t.equal(stats(server.secureContext).verifiedHits, hits + 1, "bob's next certificate is answered from that entry");

  // verifyChain() verifies exactly what the handshake did, so the two share entries.
  t.same(server.secureContext.verifyChain(derChain(bob.chain)), { ok: true });
  t.equal(stats(server.secureContext).verifiedHits, hits + 2, "the revalidation used the re-authentication's entry");
});
