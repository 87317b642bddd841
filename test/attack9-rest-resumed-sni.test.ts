// Attack: a TLS session that resumes does not run node's SNI selection again (OpenSSL calls the
// certificate callback, where node switches to the SNI context, on full handshakes only), so the
// handle of a resumed connection carries the server's default context and no `sni_context`. REST
// on node:https (lib/http/peer.ts serverTrust) then judges the resumed client under the server's
// default `ca`, not under the CAs of the SNI context that verified the session:
// - fail-open: the context for "localhost" trusts the new root and intermediate, the server's
//   default context the old cross-signed pair (legacy clients without SNI). A client verified
//   under the new trust resumes: the library chains its leaf through the old intermediate and root
//   from the default store, so a fleet's revocation of the new root, which refuses its full
//   handshakes, does not reach its resumed sessions;
// - fail-closed: a tenant context trusting the client's root on a server whose default trusts
//   another PKI: every resumed session of that tenant's clients gets 403 (certificate-chain-unknown)
//   although its full handshakes are served.
//
// The fix: remember, per session (its ticket or session id, or the leaf), the SNI context that
// verified it at the full handshake, and judge a resumed connection under that context's CAs,
// not the handle's; deny when it is not known.
import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { crossSignedPki } from './helpers/cross-signed-pki';
import { serveHttps, tlsGet, answerResumed, statusAndBody, type Reply } from './helpers/https-resumption';

async function serve(t: Test, guard: SerialGuard, defaultCa: string, nameCa: string): Promise<number> {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const { port } = await serveHttps(t, {
    guard,
    tls: { ca: defaultCa },
    answer: answerResumed,
    setup: (server) => server.addContext('localhost', { ...identity, ca: nameCa }),
  });
  return port;
}

/** GET / over a new connection to "localhost" presenting `cert`, resuming `session` if given. */
function request(t: Test, port: number, key: string, cert: string, session?: Buffer): Promise<Reply<string>> {
  return tlsGet(t, { port, key, cert, session, read: statusAndBody });
}

t.test('a resumed session is judged under the SNI context that verified it, not the default one', async (t) => {
  const pki = crossSignedPki(t, 'attack9-sni');
  for (const [name, serial] of [
    ['new root', new X509Certificate(pki.newRoot).serialNumber],
    ['new intermediate', new X509Certificate(pki.newIntermediate).serialNumber],
  ] as const) {
    await t.test(`a revoked ${name}: its resumed sessions are refused too`, async (t) => {
      const guard = new SerialGuard();
      const port = await serve(t, guard, pki.oldTrust, pki.newTrust);
      const first = await request(t, port, pki.leafKey, pki.leaf);
      t.equal(first.status, '200 resumed=false', 'a full handshake is served under the new trust');
      guard.revoke(serial);
      const full = await request(t, port, pki.leafKey, pki.leaf);
      t.match(full.status, /^403/, `after the revocation a full handshake is refused (${full.status})`);
      const resumed = await request(t, port, pki.leafKey, pki.leaf, first.session);
      t.notMatch(resumed.status, /^200/, `and so is a resumed session (${resumed.status})`);
    });
  }
  await t.test("a tenant's resumed sessions are served as its full handshakes are", async (t) => {
    const port = await serve(t, new SerialGuard(), certs.wrongCa, certs.ca);
    const first = await request(t, port, certs.clientKey, certs.clientChain);
    t.equal(first.status, '200 resumed=false', 'a full handshake is served');
    const resumed = await request(t, port, certs.clientKey, certs.clientChain, first.session);
    t.equal(resumed.status, '200 resumed=true', 'and so is its resumed session');
  });
});
