// Attack: REST on node:https re-verifies a resumed session's client itself, because OpenSSL verifies
// nothing on resumption (docs/api.md "Resumed sessions"), but it does so under the context's `ca`
// alone (lib/http/peer.ts serverTrust, lib/http/node-context-cas.ts caText): the context's `crl`
// is no part of the trust it judges under. An operator revokes a client by loading a CRL with
// server.setSecureContext(); with ticket keys that outlive it (a `ticketKeys` option, as a fleet
// sharing tickets sets), the revoked client's full handshakes fail but its resumed sessions still
// get 200, as long as its ticket lives: the session's verification predates the CRL and the
// library's own check of it never sees the CRL.
//
// The fix: record the context's `crl` with its `ca` (and key the trust contexts by both), and
// verify a resumed session's chain under the CRLs too; or deny a resumed session when the
// context that resumed it has CRLs the library cannot apply.
import t, { type Test } from 'tap';
import type { Server } from 'node:https';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, type Reply } from './helpers/https-resumption';

const ca = [certs.ca, certs.intermediate];
/** node reads one CRL per item: the intermediate's and the root's, apart. */
const crl = certs.crl.split(/(?<=-----END X509 CRL-----\n)/).filter((pem) => pem.includes('BEGIN'));

async function serve(t: Test): Promise<Server> {
  return (await serveHttps(t, { tls: { ca, ticketKeys: randomBytes(48) }, answer: answerResumed })).server;
}

/** GET / over a new connection presenting `cert` (resuming `session` if given). */
function request(
  t: Test,
  port: number,
  key: string,
  cert: string,
  session?: Buffer,
): Promise<Reply<number | 'closed'>> {
  return tlsGet(t, { port, key, cert, session, refused: 'closed' });
}

t.test('a client the server CRL revokes is refused on a resumed session too', async (t) => {
  const server = await serve(t);
  const port = (server.address() as AddressInfo).port;
  const first = await request(t, port, certs.clientRevokedKey, certs.clientRevokedChain);
  t.equal(first.status, 200, 'served before the CRL');
  t.ok(first.session, 'and given a ticket');
  // The operator revokes the client: same identity, same CAs, a CRL.
  server.setSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca, crl });
  const good = await request(t, port, certs.clientKey, certs.clientChain);
  t.equal(good.status, 200, 'another client is served under the CRL');
  const full = await request(t, port, certs.clientRevokedKey, certs.clientRevokedChain);
  t.equal(full.status, 'closed', 'the revoked client full handshake fails');
  const resumed = await request(t, port, certs.clientRevokedKey, certs.clientRevokedChain, first.session);
  t.not(resumed.status, 200, `its resumed session is refused too (${resumed.status} ${resumed.body ?? ''})`);
});
