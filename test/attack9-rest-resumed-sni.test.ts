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
import https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { crossSignedPki } from './helpers/cross-signed-pki';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

async function serve(t: Test, guard: SerialGuard, defaultCa: string, nameCa: string): Promise<number> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const server = https.createServer(
    { ...identity, ca: defaultCa, requestCert: true, rejectUnauthorized: true },
    authz.node((req, res) => res.end(`resumed=${String((req.socket as tls.TLSSocket).isSessionReused())}`)),
  );
  server.addContext('localhost', { ...identity, ca: nameCa });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

interface Reply {
  status: string;
  session?: Buffer;
}

/** GET / over a new connection to "localhost" presenting `cert`, resuming `session` if given. */
async function request(t: Test, port: number, key: string, cert: string, session?: Buffer): Promise<Reply> {
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: certs.ca,
    key,
    cert,
    ...(session && { session }),
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  let ticket: Buffer | undefined;
  client.on('session', (value: Buffer) => (ticket = value));
  await waitFor(client, 'secureConnect', SOON);
  const closed = new Promise<string>((resolve) => client.once('close', () => resolve('closed')));
  const status = await Promise.race([
    rawHttp(client)('GET', '/').then(
      (reply) => `${reply.status} ${String(reply.body)}`,
      () => 'closed',
    ),
    closed,
  ]);
  return { status, session: ticket };
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
