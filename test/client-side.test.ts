// The client side of continuous authorization: connect() answers a server's certificate request with
// its current identity, setIdentity() rotates it so each fresh re-authentication presents the newly
// issued short-lived certificate, and the client can reauthorize() the server's certificate itself
// (revalidation): allowed while it is good, denied (and cut) once it has expired.
import t from 'tap';
import { reauthorize, type Decision } from '../dist/index.js';
import { closed, waitFor } from './helpers/owned';
import { Received, codeOf, connectPair, makePki, mtlsOptions, startServer } from './helpers/mtls';

t.test(
  'a client without a certificate at the handshake answers a later request with the identity set since',
  async (t) => {
    const pki = await makePki();
    const { server, port } = await startServer(t, mtlsOptions(pki, { requestCert: false }));
    const { client, socket } = await connectPair(t, server, port, pki, null);
    t.equal(socket.getPeerX509Certificate(), undefined, 'no client certificate at the handshake');

    client.setIdentity({ key: pki.client.key, cert: pki.client.chain });
    const decision = await reauthorize(socket, { fresh: true });
    t.equal(decision.allow, true);
    t.equal(decision.certificate?.serialNumber, pki.client.serial, 'the identity the client holds now');
    t.equal(socket.authorized, true);
    t.equal(socket.getPeerX509Certificate()?.fingerprint256, pki.client.fingerprint256);
  },
);

t.test('setIdentity() rotates: every fresh re-authentication gets the newest short-lived certificate', async (t) => {
  const pki = await makePki();
  const serials: string[] = [];
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      policy: (input) => {
        serials.push(input.peer.certificate?.serialNumber ?? 'none');
        return true;
      },
    }),
  );
  const { client, socket } = await connectPair(t, server, port, pki);
  const atServer = new Received(socket);
  for (let round = 1; round <= 3; round++) {
    const next = await pki.ca.issueClient({ commonName: 'alice', validityMs: 30_000 });
    client.setIdentity({ key: next.key, cert: next.chain });
    const decision = await reauthorize(socket, { fresh: true, reason: `rotation ${round}` });
    t.equal(decision.certificate?.serialNumber, next.serial, `round ${round}: the rotated certificate`);
    t.equal(decision.expiresAt, next.notAfter.getTime(), `round ${round}: the decision lives as long as it`);
    client.write(`r${round};`);
    await atServer.until(round * 3);
  }
  t.equal(serials.length, 4, 'the handshake and three rotations reached the policy');
  t.equal(new Set(serials).size, 4, 'four different certificates');
  t.equal(atServer.text(), 'r1;r2;r3;', 'data flowed between rotations');
});

t.test("the client revalidates the server's certificate", async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const { client } = await connectPair(t, server, port, pki);

  const decision = await reauthorize(client);
  t.equal(decision.allow, true);
  t.equal(decision.trigger, 'manual');
  t.equal(decision.source, 'engine');
  t.equal(decision.certificate?.serialNumber, pki.server.serial, "about the server's certificate");
  t.equal(decision.expiresAt, pki.server.notAfter.getTime());
  t.equal(client.decision, decision);

  const fresh = await reauthorize(client, { fresh: true, fallback: 'deny', destroyOnDeny: false });
  t.equal(fresh.allow, false, 'a client cannot ask the server for a new certificate');
  t.equal(fresh.reason, 'fresh-unsupported');
  t.equal(client.destroyed, false, 'destroyOnDeny: false kept it');
  const again = await reauthorize(client);
  t.equal(again.allow, true, 'a later revalidation allows again');
});

t.test('a server certificate that expired meanwhile is denied by the client', async (t) => {
  const pki = await makePki();
  // notAfter is rounded down to a whole second: 2-3 s from now.
  const shortServer = await pki.ca.issueServer({ commonName: 'localhost', validityMs: 3_000 });
  const notAfter = shortServer.notAfter.getTime();
  const { server, port } = await startServer(t, mtlsOptions(pki, { key: shortServer.key, cert: shortServer.chain }));
  const asked = await connectPair(t, server, port, pki);
  const silent = await connectPair(t, server, port, pki);

  const first = await reauthorize(asked.client);
  t.equal(first.allow, true, 'good while valid');
  t.equal(first.expiresAt, notAfter);
  const [lapsed] = await waitFor<[Decision]>(asked.client, 'deauthorized', notAfter - Date.now() + 5_000);
  t.ok(Date.now() >= notAfter);
  t.equal(lapsed.trigger, 'expiry', 'a client that asks for decisions is re-checked at expiry');
  t.equal(lapsed.reason, 'CERT_HAS_EXPIRED');
  await closed(asked.client);
  t.equal(codeOf(asked.client.destroyReason), 'ERR_CTLS_DEAUTHORIZED');

  t.equal(silent.client.destroyed, false, 'a client that never asked is left alone');
  const late = await reauthorize(silent.client);
  t.equal(late.allow, false, 'revalidating after expiry denies');
  t.equal(late.reason, 'CERT_HAS_EXPIRED');
  await closed(silent.client);
});
