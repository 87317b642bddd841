/**
 * Across a CA key rollover under one name, the CRL of the old key and the CRL of the new key are both
 * current: the fleet keys shared CRLs by issuer and authorityKeyIdentifier, so neither replaces the
 * other and each denies what it lists.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, splitCrls, stateOps } from '../dist/fleet/events.js';
import { OpensslWorkspace } from './helpers/openssl-ca';

/** The CRL names its key (`openssl ca -crlexts`): what tells the two CRLs of one name apart. */
const CRL_EXTENSIONS = `[crlexts]
authorityKeyIdentifier = keyid:always
`;

t.test("the CRLs of an issuer's old and new key both deny what they list", async (t) => {
  const openssl = new OpensslWorkspace(t, 'ctls-rollover-');
  const leaves: X509Certificate[] = [];
  const crls: string[] = [];
  for (const [i, serial] of ['0xC1', '0xD2'].entries()) {
    openssl.ca(`ca${i}`, '-days', '30', '-subj', '/O=Example/CN=Rollover CA');
    const leaf = openssl.leaf(`leaf${i}`, `ca${i}`, {
      subject: `/CN=peer${i}`,
      serial,
      days: 10,
      extensions: 'basicConstraints=CA:false\nauthorityKeyIdentifier=keyid',
    });
    leaves.push(new X509Certificate(leaf));
    crls.push(openssl.crl(`ca${i}`, [leaf], { sections: CRL_EXTENSIONS, crlexts: 'crlexts' }));
  }
  const [first, second] = crls.map((pem) => splitCrls(pem)[0]!);
  t.equal(first!.issuer, second!.issuer, 'one issuer name');
  t.not(first!.identity, second!.identity, 'two CRL identities');
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  for (const pem of crls) for (const op of stateOps(checkEvent({ type: 'crl', pem }))) state.apply(op);
  guard.bump();
  t.equal(state.crlPems().length, 2);
  for (const [i, leaf] of leaves.entries()) {
    const facts = { chain: [leaf], token: undefined, connectionSince: 0, tier: 'request' as const };
    t.same(guard.judge(facts, Date.now()), { deny: 'certificate-revoked' }, `key ${i}'s certificate is denied`);
  }
});
