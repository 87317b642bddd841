/**
 * Attack: the fleet keeps one CRL per issuer name, the latest by lastUpdate (the `max` rule of the
 * crls hash). An issuer may have several current CRLs at once: sharded/partitioned CRLs (each
 * listing part of the revocations, told apart by their issuingDistributionPoint, as large public
 * CAs publish them), or one CRL per key across a CA key rollover under the same name. Sharing the
 * second shard (publishCrl) silently replaces the first: the serials only the first lists are no
 * longer denied, and on the request tier nothing else checks them: a revoked certificate is admitted.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { OpensslWorkspace } from './helpers/openssl-ca';

/** Each shard's issuingDistributionPoint, as `openssl ca -crlexts` sections. */
const SHARDS = `[shard0]
issuingDistributionPoint = critical, @idp0
[idp0]
fullname = URI:http://crl.example/shard0.crl
[shard1]
issuingDistributionPoint = critical, @idp1
[idp1]
fullname = URI:http://crl.example/shard1.crl
`;

t.test('two shards of one issuer both deny what they list', async (t) => {
  const openssl = new OpensslWorkspace(t, 'ctls-attack2-');
  openssl.ca('ca', '-days', '30', '-subj', '/O=Example/CN=Shard CA');
  const leaves: X509Certificate[] = [];
  const crls: string[] = [];
  for (const [i, serial] of ['0xA1', '0xB2'].entries()) {
    const leaf = openssl.leaf(`leaf${i}`, 'ca', {
      subject: `/CN=peer${i}`,
      serial,
      days: 10,
      extensions: 'basicConstraints=CA:false\nextendedKeyUsage=clientAuth',
    });
    leaves.push(new X509Certificate(leaf));
    // Shard i (its own issuingDistributionPoint) lists only leaf i.
    crls.push(openssl.crl('ca', [leaf], { sections: SHARDS, crlexts: `shard${i}` }));
  }
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  for (const pem of crls) for (const op of stateOps(checkEvent({ type: 'crl', pem }))) state.apply(op);
  guard.bump();
  for (const [i, leaf] of leaves.entries()) {
    const facts = { chain: [leaf], token: undefined, connectionSince: 0, tier: 'request' as const };
    t.same(guard.judge(facts, Date.now()), { deny: 'certificate-revoked' }, `shard ${i}'s certificate is denied`);
  }
});
