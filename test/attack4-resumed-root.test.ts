// Attack: a fleet revokes a trust anchor (the root CA's serial). Guards are meant to judge every
// certificate verification stood on; a full handshake's verified chain (OpenSSL's built chain) holds
// the anchor, so that connection is found and cut. A resumed session's "verified chain" is rebuilt as
// the leaf plus the remembered intermediates (PeerChain#verified, RememberedChains#rememberVerified
// drops the anchor), so the root is neither judged nor indexed: the resumed connection is missed by
// the targeted re-check (recheckKeys) and allowed again by a full re-decision (invalidatePolicy).
//
// The fix: for a resumed session build the chain the way it is verified (verifyWithHorizon's
// verifyChain with the remembered extras) and take the chain OpenSSL built there, anchor included
// (have the native verifyChain return it), instead of re-assembling leaf + remembered intermediates.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { connect, createServer, type TLSSocket } from '../dist/index.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { closed, listen, waitFor, SOON } from './helpers/owned';

const root = new X509Certificate(certs.ca);

t.test("a fleet's revocation of the root cuts a resumed owned connection as it cuts a full one", async (t) => {
  const guard = new SerialGuard();
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    ca: certs.ca,
    requestCert: true,
    rejectUnauthorized: true,
    maxVersion: 'TLSv1.3',
  });
  const host = (server as unknown as { [kGuardHost]: GuardHost })[kGuardHost];
  host.addGuard(guard);
  const port = await listen(t, server);
  const open = async (session?: Buffer) => {
    const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
    const client = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: certs.ca,
      key: certs.clientKey,
      cert: certs.clientChain,
      ...(session === undefined ? {} : { session }),
    });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    const ticket = session === undefined ? waitFor<[Buffer]>(client, 'session', SOON) : null;
    const [socket] = await accepted;
    socket.on('error', () => {});
    return { socket, session: ticket === null ? session! : (await ticket)[0] };
  };
  const full = await open();
  const resumed = await open(full.session);
  t.equal(resumed.socket.isSessionReused(), true, 'the second connection resumed');

  guard.revoke(root.serialNumber);
  const found = await host.recheckKeys([`serial:${root.serialNumber}`], 'revocation');
  t.equal(found.length, 2, 'both connections are indexed under the root serial');
  await closed(full.socket);
  t.ok(full.socket.destroyed, 'the full-handshake connection is cut');

  // Even a re-decision of every live connection judges the resumed one without its anchor.
  await host.invalidatePolicy();
  t.ok(resumed.socket.destroyed, 'the resumed connection is cut too');
});
