// A resumed session shows its leaf alone, and the owned tier verifies it again with the
// intermediates that leaf was verified with (lib/tls/remembered-chains.ts): those of the chain
// OpenSSL verified, its anchor left to the store (test/reauth-remembers-verified-chain.test.ts
// shows extras a peer presents beside that chain are not kept). That memory is per leaf (the
// SHA-256 of its whole DER) and per trust: a lookalike sharing an intermediate's first bytes takes
// nothing's place, other leaves cannot push a leaf's entry out, the latest verified chain replaces
// the one before, and a context built with other CAs does not see what another trust remembered.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from '../dist/tls/context.js';
import { certs } from './helpers/certs';
import { derChain } from './helpers/owned';

const [leaf, intermediate] = derChain(certs.clientChain) as [Buffer, Buffer];
const [otherLeaf, otherIntermediate] = derChain(certs.client2Chain) as [Buffer, Buffer];
const [root] = derChain(certs.ca) as [Buffer];

/** The intermediate's DER with one subject letter changed (it issues nothing) and, with `serial`, another key. */
function lookalike(serial?: number): Buffer {
  const der = Buffer.from(intermediate);
  const at = der.indexOf(Buffer.from('test intermediate CA'), 96);
  der[at] = 'x'.charCodeAt(0);
  if (serial !== undefined) der.writeUInt16LE(serial & 0xffff, 30);
  return der;
}

let trusts = 0;
/** A context of its own trust: CAs with distinct bytes, so no other test shares its memory. */
function freshTrust(ca = certs.ca): ReturnType<typeof createSecureContext> {
  return createSecureContext({ ca: `${ca}\n${'\n'.repeat(++trusts)}` }, true);
}

t.test('fixtures: a lookalike keeps the first 96 bytes and the length', async (t) => {
  t.ok(lookalike().subarray(0, 96).equals(intermediate.subarray(0, 96)));
  t.equal(lookalike().length, intermediate.length);
  t.doesNotThrow(() => new X509Certificate(lookalike()), 'still a certificate');
});

t.test('a lone leaf verifies with the intermediate it was verified with, and only then', async (t) => {
  const trust = freshTrust();
  t.match(trust.verifyChain([leaf]), { ok: false, code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }, 'nothing remembered');
  trust.rememberVerifiedChain([leaf, intermediate, root]);
  t.same(trust.verifyChain([leaf]), { ok: true });
  t.match(trust.verifyChain([otherLeaf]), { ok: false }, "another leaf does not get this leaf's intermediates");
});

t.test('the anchor is not carried, and the latest verified chain replaces the one before', async (t) => {
  const trust = freshTrust();
  trust.rememberVerifiedChain([leaf, intermediate]);
  t.match(trust.verifyChain([leaf]), { ok: false }, 'the last certificate is the anchor: not remembered');
  trust.rememberVerifiedChain([leaf, intermediate, root]);
  t.same(trust.verifyChain([leaf]), { ok: true }, 'the intermediates between leaf and anchor are');
  trust.rememberVerifiedChain([leaf, lookalike(), root]);
  t.match(trust.verifyChain([leaf]), { ok: false }, 'a lookalike takes the place of nothing but its own entry');
  trust.rememberVerifiedChain([leaf, intermediate, root]);
  t.same(trust.verifyChain([leaf]), { ok: true }, 'and the next verified chain restores it');
});

t.test("another leaf's flood of lookalikes does not evict or squat this leaf's entry", async (t) => {
  const trust = freshTrust();
  trust.rememberVerifiedChain([leaf, intermediate, root]);
  for (let i = 1; i <= 400; i++) trust.rememberVerifiedChain([otherLeaf, lookalike(i), root]);
  trust.rememberVerifiedChain([otherLeaf, otherIntermediate, root]);
  t.same(trust.verifyChain([leaf]), { ok: true }, 'the victim still resumes');
  t.same(trust.verifyChain([otherLeaf]), { ok: true }, "the flooder's latest verified chain was kept");
});

t.test('the memory is per trust: contexts with the same CAs share it, others do not', async (t) => {
  const ca = `${certs.ca}\n${'\n'.repeat(++trusts)}`;
  const first = createSecureContext({ ca }, true);
  first.rememberVerifiedChain([leaf, intermediate, root]);
  const sameCas = createSecureContext({ ca }, false);
  t.same(sameCas.verifyChain([leaf]), { ok: true }, 'a client context built with the same CAs resumes');
  const otherCas = freshTrust();
  t.match(otherCas.verifyChain([leaf]), { ok: false }, 'a context with other CAs does not');
  first.setCrl(certs.crlEmpty);
  t.same(first.verifyChain([leaf]), { ok: true }, "a trust change keeps the context's memory (verified again)");
  first.setCa(certs.wrongCa);
  t.match(first.verifyChain([leaf]), { ok: false }, 'but grants nothing the trust of the moment does not');
});
