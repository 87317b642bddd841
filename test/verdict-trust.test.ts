// No verdict outlives the trust it was made under, on the owned tier: a certificate obtained by a
// step-up, a handshake or a fresh answer paused across setCrl, a trust or policy change while a
// decision is pending, a revoked intermediate, a certificate requested by app code, SNI contexts'
// own CAs, and a policy whose allow has already lapsed.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { attach, connect, createSecureContext, reauthorize, type Decision, type TLSSocket } from '../dist/index.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { closed, pemChain, waitFor, SOON } from './helpers/owned';
import { connectPair, delay, makePki, mtlsOptions, type Pki, Received, startServer } from './helpers/mtls';
import { startRelay } from './helpers/relay';

const VERSIONS = ['TLSv1.3', 'TLSv1.2'] as const;

function deniedReason(socket: TLSSocket): string | undefined {
  return (socket.destroyReason as (Error & { decision?: Decision }) | null)?.decision?.reason;
}

/** Our client through `port`, presenting `identity`, with every error swallowed (cuts are expected). */
function client(
  t: Test,
  port: number,
  pki: Pki,
  identity: { key: string; chain: string } | null,
  maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3',
): TLSSocket {
  const socket = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    maxVersion,
    ...(identity === null ? {} : { key: identity.key, cert: identity.chain }),
  });
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  return socket;
}

for (const version of VERSIONS) {
  t.test(`${version}: a certificate obtained by a step-up is re-verified at every trust change`, async (t) => {
    for (const change of ['setCrl', 'setCa'] as const) {
      t.test(change, async (t) => {
        const pki = await makePki();
        const other = await DevelopmentCA.create();
        const { server, port } = await startServer(t, { ...mtlsOptions(pki), requestCert: false, maxVersion: version });
        const accepted = waitFor<[TLSSocket]>(server, 'secureConnection');
        const peer = client(t, port, pki, pki.client, version);
        const [socket] = await accepted;
        t.equal(socket.getPeerX509Certificate(), undefined, 'no certificate at the handshake');
        const stepUp = await reauthorize(socket, { fresh: true });
        t.equal(stepUp.allow, true, 'the step-up presents a valid certificate');
        t.equal(stepUp.certificate?.serialNumber, pki.client.serial);

        if (change === 'setCrl') {
          pki.ca.revoke(pki.client.serial);
          await server.setCrl(await pki.ca.crls());
        } else {
          await server.setCa(other.rootCert);
        }
        await closed(socket);
        t.equal(deniedReason(socket), change === 'setCrl' ? 'CERT_REVOKED' : 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
        await closed(peer);
      });
    }
  });
}

t.test(
  'a handshake paused between ClientHello and Certificate is verified against the trust of when it finishes',
  async (t) => {
    const pki = await makePki();
    const { server, port } = await startServer(t, mtlsOptions(pki));
    const relay = await startRelay(t, port);
    relay.holdClientAfter(1);
    const refused = waitFor<[Error & { verifyError?: string }]>(server, 'tlsClientError', SOON);
    let admitted = false;
    server.on('secureConnection', () => (admitted = true));
    client(t, relay.port, pki, pki.client);
    await waitFor(relay, 'held', SOON);
    // The client's Certificate is on its way; the server revokes it before it arrives.
    pki.ca.revoke(pki.client.serial);
    await server.setCrl(await pki.ca.crls());
    relay.release();
    t.equal((await refused)[0].verifyError, 'CERT_REVOKED');
    t.equal(admitted, false, 'never admitted');
  },
);

t.test(
  'a certificate verified, then a trust change, then the rest of the handshake: the new trust decides',
  async (t) => {
    const pki = await makePki();
    const { server, port } = await startServer(t, mtlsOptions(pki));
    const relay = await startRelay(t, port);
    relay.holdClientAfter(1);
    const outcomes: string[] = [];
    server.on('tlsClientError', (error: Error & { verifyError?: string }) =>
      outcomes.push(error.verifyError ?? 'tlsClientError'),
    );
    server.on('decision', (event: { outcome: string; reason: string }) =>
      outcomes.push(`${event.outcome}:${event.reason}`),
    );
    let admitted = false;
    server.on('secureConnection', () => (admitted = true));
    const peer = client(t, relay.port, pki, pki.client);
    await waitFor(relay, 'held', SOON);
    const deadline = Date.now() + SOON;
    while (relay.heldRecords() < 3 && Date.now() < deadline) await delay(5);
    // The change_cipher_spec and the record with the Certificate go through: the server verifies
    // it under the old list. Its CertificateVerify and Finished wait until the list has changed.
    t.ok(relay.heldRecords() >= 3, `the client's flight spans ${relay.heldRecords()} records`);
    relay.releaseRecords(2);
    await delay(100);
    pki.ca.revoke(pki.client.serial);
    await server.setCrl(await pki.ca.crls());
    relay.release();
    await closed(peer);
    t.ok(
      outcomes.includes('CERT_REVOKED') || outcomes.includes('deny:CERT_REVOKED'),
      `refused as revoked (${outcomes.join(', ')})`,
    );
    t.notOk(
      outcomes.some((o) => o.startsWith('allow')),
      'no allow',
    );
    t.equal(admitted, false, 'never admitted');
  },
);

for (const version of VERSIONS) {
  t.test(`${version}: a fresh answer that arrives after setCrl is verified against the new list`, async (t) => {
    const pki = await makePki();
    const { server, port } = await startServer(t, mtlsOptions(pki, { maxVersion: version }));
    const relay = await startRelay(t, port);
    const accepted = waitFor<[TLSSocket]>(server, 'secureConnection');
    const peer = client(t, relay.port, pki, pki.client, version);
    peer.resume();
    const [socket] = await accepted;
    const next = await pki.ca.issueClient({ commonName: 'alice' });
    peer.setIdentity({ key: next.key, cert: next.chain });
    relay.holdClient();
    const fresh = reauthorize(socket, { fresh: true });
    await waitFor(relay, 'held', SOON);
    pki.ca.revoke(next.serial);
    const sweep = server.setCrl(await pki.ca.crls());
    relay.release();
    const decision = await fresh;
    await sweep;
    t.equal(decision.allow, false, 'the answer is judged by the list in force when it arrived');
    t.equal(decision.reason, 'CERT_REVOKED');
    await closed(socket);
  });
}

t.test('a trust or policy change while the first decision is pending decides it again', async (t) => {
  for (const change of ['setCrl', 'setCa', 'setPolicy'] as const) {
    t.test(change, async (t) => {
      const pki = await makePki();
      const other = await DevelopmentCA.create();
      let calls = 0;
      const slow = async (): Promise<boolean> => {
        calls++;
        await delay(300);
        return true;
      };
      const { server, port } = await startServer(t, mtlsOptions(pki, { policy: slow, policyTimeout: 5_000 }));
      const handshake = waitFor(server, 'decision', SOON);
      let delivered = '';
      let admitted = 0;
      server.on('secureConnection', (socket: TLSSocket) => {
        admitted++;
        socket.on('data', (chunk: Buffer) => (delivered += chunk));
      });
      const peer = client(t, port, pki, pki.client);
      await waitFor(peer, 'secureConnect', SOON);
      peer.write('from-the-client');
      await delay(50);
      t.equal(calls, 1, 'the first decision is pending');
      let decisions: Decision[];
      if (change === 'setCrl') {
        pki.ca.revoke(pki.client.serial);
        decisions = await server.setCrl(await pki.ca.crls());
      } else if (change === 'setCa') {
        decisions = await server.setCa(other.rootCert);
      } else {
        decisions = await server.setPolicy(() => false);
      }
      t.equal(decisions.length, 1, 'the pending connection is part of the sweep');
      t.equal(decisions[0]!.allow, false);
      await handshake;
      await closed(peer);
      t.equal(admitted, 0, 'never admitted');
      t.equal(delivered, '', 'no byte of the denied client reached the app');
    });
  }
});

t.test('an interval re-check in flight during setCrl does not let the revoked peer through', async (t) => {
  const pki = await makePki();
  let slowNext = false;
  const policy = async (): Promise<boolean> => {
    if (slowNext) await delay(300);
    return true;
  };
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, { policy, policyTimeout: 5_000, reauthorize: { every: 100 } }),
  );
  const { socket } = await connectPair(t, server, port, pki);
  slowNext = true;
  await waitFor(server, 'decision', SOON).catch(() => undefined);
  await delay(120);
  pki.ca.revoke(pki.client.serial);
  const decisions = await server.setCrl(await pki.ca.crls());
  t.match(
    decisions,
    [{ allow: false, reason: 'CERT_REVOKED' }],
    'the sweep answers with the new list, not the re-check in flight',
  );
  t.equal(socket.destroyed, true, 'cut by the time setCrl resolves, not at the next period');
  await closed(socket);
  t.equal(deniedReason(socket), 'CERT_REVOKED');
});

t.test('concurrent reauthorize() calls with different context or destroyOnDeny do not share an answer', async (t) => {
  const pki = await makePki();
  const policy = async (input: { context: Record<string, unknown> }): Promise<boolean> => {
    await delay(50);
    return input.context['risk'] !== 'high';
  };
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy }));
  const { socket } = await connectPair(t, server, port, pki);
  const [kept, risky] = await Promise.all([
    reauthorize(socket, { destroyOnDeny: false }),
    reauthorize(socket, { context: { risk: 'high' } }),
  ]);
  t.equal(kept.allow, true);
  t.equal(risky.allow, false, 'the call with the risky context is denied');
  await closed(socket);
  t.equal(deniedReason(socket), 'denied');
});

t.test('a revoked intermediate CA is enforced (both tiers)', async (t) => {
  const pki = await makePki();
  t.test('owned: live connection cut, new handshakes refused, verifyChain says so', async (t) => {
    const { server, port } = await startServer(t, mtlsOptions(pki, { crl: await pki.ca.crls() }));
    const { socket } = await connectPair(t, server, port, pki);
    pki.ca.revokeIntermediate();
    await server.setCrl(await pki.ca.crls());
    await closed(socket);
    t.equal(deniedReason(socket), 'CERT_REVOKED');
    t.match(server.secureContext.verifyChain(pemChain(pki.client.chain)), { ok: false, code: 'CERT_REVOKED' });
    const refused = waitFor<[Error & { verifyError?: string }]>(server, 'tlsClientError', SOON);
    client(t, port, pki, pki.client);
    t.equal((await refused)[0].verifyError, 'CERT_REVOKED');
    pki.ca.unrevokeIntermediate();
  });
  t.test('attached node:tls server', async (t) => {
    const ca = await DevelopmentCA.create();
    const [serverId, alice] = await Promise.all([
      ca.issueServer({ commonName: 'localhost' }),
      ca.issueClient({ commonName: 'alice' }),
    ]);
    ca.revokeIntermediate();
    const server = tls.createServer({
      key: serverId.key,
      cert: serverId.chain,
      ca: ca.rootCert,
      requestCert: true,
      rejectUnauthorized: false,
    });
    const attachment = attach(server, { ca: ca.rootCert, crl: await ca.crls() });
    t.teardown(() => attachment.detach());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => server.close());
    const decided = waitFor<[{ outcome: string; reason: string }]>(server, 'decision', SOON);
    const peer = tls.connect({
      port: (server.address() as { port: number }).port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: ca.rootCert,
      key: alice.key,
      cert: alice.chain,
    });
    peer.on('error', () => {});
    t.teardown(() => peer.destroy());
    const [event] = await decided;
    t.equal(event.outcome, 'deny');
    t.equal(event.reason, 'CERT_REVOKED');
  });
});

t.test(
  'socket.requestCertificate() called by app code: the new identity passes nothing before the policy',
  async (t) => {
    for (const version of VERSIONS) {
      t.test(version, async (t) => {
        const pki = await makePki();
        const mallory = await pki.ca.issueClient({ commonName: 'mallory' });
        const policy = (input: { peer: { certificate?: { subject: string } } }): boolean =>
          !/CN=mallory/.test(input.peer.certificate?.subject ?? '');
        const { server, port } = await startServer(t, mtlsOptions(pki, { policy, maxVersion: version }));
        const { client: peer, socket } = await connectPair(t, server, port, pki, pki.client, { maxVersion: version });
        peer.resume();
        const received = new Received(socket);
        peer.setIdentity({ key: mallory.key, cert: mallory.chain });
        const answered = waitFor(socket, 'certificate', SOON);
        void socket.requestCertificate({ timeout: SOON }).catch(() => undefined);
        await answered;
        peer.write('as-mallory');
        await closed(socket);
        t.equal(deniedReason(socket), 'denied');
        t.notMatch(received.text(), /as-mallory/, 'no byte under the new identity reached the app');
      });
    }
  },
);

t.test("SNI contexts verify clients with their own CAs, and one context's changes stay its own", async (t) => {
  const tenantA = await makePki();
  const tenantB = await makePki();
  const contextA = createSecureContext(
    { key: tenantA.server.key, cert: tenantA.server.chain, ca: tenantA.ca.rootCert },
    true,
  );
  const contextB = createSecureContext(
    { key: tenantB.server.key, cert: tenantB.server.chain, ca: tenantB.ca.rootCert },
    true,
  );
  const { server, port } = await startServer(t, {
    ...mtlsOptions(tenantA),
    SNICallback: (name, callback) => callback(null, name === 'b.test' ? contextB : contextA),
  });
  const dial = (pki: Pki, who: Pki, servername: string): TLSSocket => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername,
      ca: pki.ca.rootCert,
      key: who.client.key,
      cert: who.client.chain,
      checkServerIdentity: () => undefined,
    });
    socket.on('error', () => {});
    t.teardown(() => socket.destroy());
    return socket;
  };
  const refused = waitFor<[Error & { verifyError?: string }]>(server, 'tlsClientError', SOON);
  dial(tenantB, tenantA, 'b.test');
  t.equal(
    (await refused)[0].verifyError,
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    "tenant A's client is refused on tenant B's host",
  );

  const acceptedB = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  dial(tenantB, tenantB, 'b.test');
  const [onB] = await acceptedB;
  t.equal(onB.secureContext, contextB);
  const acceptedA = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  dial(tenantA, tenantA, 'a.test');
  const [onA] = await acceptedA;

  // Revoking on B's context cuts B's client at once and leaves A's alone.
  tenantB.ca.revoke(tenantB.client.serial);
  contextB.setCrl(await tenantB.ca.crls());
  await closed(onB);
  t.equal(deniedReason(onB), 'CERT_REVOKED');
  t.equal(onA.destroyed, false);
  const decision = await reauthorize(onA);
  t.equal(decision.allow, true, "A's connection still verifies against A's CAs");
});

t.test('an allow that has already lapsed (ttlMs: 0, a past expiresAt) is a denial, not a loop', async (t) => {
  for (const answer of [
    { allow: true, ttlMs: 0 },
    { allow: true, expiresAt: Date.now() - 1_000 },
  ]) {
    t.test(JSON.stringify(answer), async (t) => {
      const pki = await makePki();
      let calls = 0;
      const { server, port } = await startServer(
        t,
        mtlsOptions(pki, {
          policy: () => {
            calls++;
            return answer;
          },
        }),
      );
      const peer = client(t, port, pki, pki.client);
      const decided = waitFor<[{ outcome: string; reason: string }]>(server, 'decision', SOON);
      const [event] = await decided;
      t.equal(event.outcome, 'deny');
      t.equal(event.reason, 'decision-expired');
      await closed(peer);
      await delay(100);
      t.equal(calls, 1, 'the policy was asked once');
    });
  }
});

t.test('a CA from the store that expires ends the decision with it, whatever the presented leaf says', async (t) => {
  const ca = await DevelopmentCA.create({ validityMs: 3_000 });
  const serverCa = await DevelopmentCA.create();
  const [serverId, alice] = await Promise.all([
    serverCa.issueServer({ commonName: 'localhost' }),
    ca.issueClient({ commonName: 'alice', validityMs: 3_600_000 }),
  ]);
  const caNotAfter = Date.parse(new X509Certificate(ca.rootCert).validTo);
  // every: 0 — no periodic re-check: only the decision's own expiry can end it.
  const { server, port } = await startServer(t, {
    key: serverId.key,
    cert: serverId.chain,
    ca: ca.rootCert + ca.issuerChain,
    requestCert: true,
    reauthorize: { every: 0 },
  });
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const peer = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: serverCa.rootCert,
    key: alice.key,
    cert: alice.cert,
  });
  peer.on('error', () => {});
  t.teardown(() => peer.destroy());
  const [socket] = await accepted;
  t.ok(socket.decision!.expiresAt <= caNotAfter, 'the decision lapses when the CA does, not with the leaf');
  await closed(socket, caNotAfter - Date.now() + SOON);
  t.equal(deniedReason(socket), 'CERT_HAS_EXPIRED');
  t.ok(Date.now() >= caNotAfter, 'not before the CA expired');
});

t.test('a fresh request that must deny does not take the answer of one that falls back', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy: () => true }));
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  // node's own client never offers post-handshake authentication: no fresh exchange is possible.
  const peer = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
  });
  peer.on('error', () => {});
  t.teardown(() => peer.destroy());
  const [socket] = await accepted;
  const [lenient, strict] = await Promise.all([
    reauthorize(socket, { fresh: true, destroyOnDeny: false }),
    reauthorize(socket, { fresh: true, fallback: 'deny', destroyOnDeny: false }),
  ]);
  t.match(lenient, { allow: true, source: 'fallback' });
  t.match(strict, { allow: false, reason: 'fresh-unsupported' });
});

t.test(
  'attached TLS 1.2: a "fresh" renegotiation that resumed the session is not taken as a new certificate',
  async (t) => {
    const pki = await makePki();
    const server = tls.createServer({
      key: pki.server.key,
      cert: pki.server.chain,
      ca: pki.ca.rootCert,
      requestCert: true,
      maxVersion: 'TLSv1.2',
    });
    const attachment = attach(server, { ca: pki.ca.rootCert });
    t.teardown(() => attachment.detach());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => server.close());
    const accepted = waitFor<[tls.TLSSocket]>(server, 'secureConnection', SOON);
    const peer = tls.connect({
      port: (server.address() as { port: number }).port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: pki.ca.rootCert,
      key: pki.client.key,
      cert: pki.client.chain,
    });
    peer.on('error', () => {});
    peer.resume();
    t.teardown(() => peer.destroy());
    const [socket] = await accepted;
    socket.on('error', () => {});
    const fresh = await reauthorize(socket, { fresh: true, destroyOnDeny: false });
    t.match(fresh, { allow: true, source: 'fallback' }, 'node resumed the session: revalidated, and said so');
    const strict = await reauthorize(socket, { fresh: true, fallback: 'deny', destroyOnDeny: false });
    t.match(strict, { allow: false, reason: 'fresh-unsupported' });
  },
);
