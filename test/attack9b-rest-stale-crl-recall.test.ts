// Attack: REST on node:https judges a resumed session under its context's CAs and CRLs with
// revocation 'strict' (lib/http/node-server-trust.ts), but when that verification fails it falls
// back to the chain remembered for the leaf under the same trust (peer.ts nodeServerChain ->
// recallVerifiedChain), whatever the reason it failed. That recall exists because node shows a
// resumed session's leaf without its chain; it also answers when the chain is refused outright. A
// CRL that goes stale (nextUpdate passed, the CA's publisher down, or an attacker blocking its
// fetch so the app cannot reload it) makes node refuse every full handshake (CRL has expired), and
// the library's own strict verification refuses the chain too, yet a client holding a session made
// while the CRL was fresh is served 200: revocation status nobody can vouch for any more is taken
// as good, on exactly the connections that skip node's check.
//
// The fix: recall a remembered chain only when verification failed for want of issuers (node
// showing the leaf alone), never when it refused the chain (revoked, stale or missing CRL, expiry):
// have serverVerifiedChain tell those apart (verifyWithHorizon's error), or re-verify the
// remembered chain under the trust as it is now before using it.
import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { OpensslWorkspace } from './helpers/openssl-ca';
import { serveHttps, tlsGet, answerResumed, statusAndBody, type Reply } from './helpers/https-resumption';

function request(t: Test, port: number, key: string, cert: string, session?: Buffer): Promise<Reply<string>> {
  return tlsGet(t, { port, key, cert, session, read: statusAndBody, refused: 'handshake refused' });
}

t.test('a resumed session is not served once its context CRL is stale', async (t) => {
  const ws = new OpensslWorkspace(t);
  const caExtensions = [
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ];
  ws.ca('root', '-subj', '/CN=attack9b stale-crl root', '-days', '2', ...caExtensions);
  const leaf = ws.leaf('client', 'root', {
    subject: '/CN=attack9b stale-crl client',
    serial: '0x5151',
    days: 2,
    extensions: 'basicConstraints=CA:false\nextendedKeyUsage=clientAuth',
  });
  const leafKey = ws.read('client.key');
  ws.crl('root', []); // writes the CA database and configuration
  ws.run('ca', '-config', 'ca.cnf', '-gencrl', '-keyfile', 'root.key', '-cert', 'root.pem', '-crlsec', '4',
    '-out', 'short.crl'); // prettier-ignore
  const crl = ws.read('short.crl');
  const nextUpdate = Date.now() + 4_000;

  const { port } = await serveHttps(t, { tls: { ca: ws.read('root.pem'), crl }, answer: answerResumed });

  const first = await request(t, port, leafKey, leaf);
  t.equal(first.status, '200 resumed=false', 'a full handshake is served while the CRL is fresh');
  t.ok(first.session, 'and gets a session');
  await sleep(Math.max(0, nextUpdate - Date.now()) + 1_500);
  const full = await request(t, port, leafKey, leaf);
  t.notMatch(full.status, /^200/, `once the CRL is stale node refuses a full handshake (${full.status})`);
  const resumed = await request(t, port, leafKey, leaf, first.session);
  t.notMatch(resumed.status, /^200/, `and REST refuses the resumed session (${resumed.status})`);
});
