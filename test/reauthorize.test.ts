// reauthorize(socket, options) on the owned tier: what a Decision carries, fresh re-authentication
// over TLS 1.3 post-handshake auth and TLS 1.2 renegotiation (the client's rotated certificate comes
// back), revalidation against today's trust store, one shared evaluation for concurrent calls, what a
// denial does to the socket (destroy with ERR_CTLS_DEAUTHORIZED, or hold everything with
// destroyOnDeny: false), the 'reauthorized' / 'deauthorized' events, and the fallback for a client that
// cannot do post-handshake auth.
import t from 'tap';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { reauthorize, type AuthorizationInput, type Decision, type TLSSocket } from '../dist/index.js';
import { closed, waitFor } from './helpers/owned';
import { codeOf, connectPair, delay, makePki, mtlsOptions, Received, startServer } from './helpers/mtls';

t.test('a manual revalidation returns a complete Decision', async (t) => {
  const pki = await makePki();
  const inputs: AuthorizationInput[] = [];
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      policy: (input) => {
        inputs.push(input);
        return { allow: true, reason: `ok:${input.trigger}`, ttlMs: 60_000 };
      },
    }),
  );
  const { socket } = await connectPair(t, server, port, pki);
  const before = Date.now();
  const decision = await reauthorize(socket, { reason: 'wire-transfer', context: { risk: 3 } });

  t.equal(decision.allow, true);
  t.equal(decision.reason, 'ok:manual', 'the policy reason');
  t.equal(decision.trigger, 'manual');
  t.equal(decision.source, 'engine');
  t.type(decision.durationMs, 'number');
  t.ok(decision.durationMs >= 0);
  t.ok(
    decision.expiresAt >= before + 60_000 && decision.expiresAt <= Date.now() + 60_000,
    'expiresAt follows the policy TTL',
  );
  t.ok(decision.certificate instanceof X509Certificate, 'the certificate is a crypto.X509Certificate');
  t.equal(decision.certificate?.fingerprint256, pki.client.fingerprint256, 'the certificate the client presented');
  t.equal(socket.decision, decision, 'the socket carries it as its current decision');
  const last = inputs.at(-1)!;
  t.equal(last.trigger, 'manual');
  t.same(last.context, { risk: 3 }, 'the context reaches the policy');
  t.equal(last.peer.verified, true);
  t.equal(last.peer.certificate?.serialNumber, pki.client.serial);
});

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`fresh: true over ${version} receives the client's rotated certificate`, async (t) => {
    const pki = await makePki();
    const seen: Array<{ trigger: string; serial: string | undefined; reauthCount: number }> = [];
    const { server, port } = await startServer(
      t,
      mtlsOptions(pki, {
        maxVersion: version,
        policy: (input) => {
          seen.push({
            trigger: input.trigger,
            serial: input.peer.certificate?.serialNumber,
            reauthCount: input.connection.reauthCount,
          });
          return true;
        },
      }),
    );
    const { client, socket } = await connectPair(t, server, port, pki);
    t.equal(socket.getProtocol(), version);

    const rotated = await pki.ca.issueClient({ commonName: 'alice', validityMs: 120_000 });
    client.setIdentity({ key: rotated.key, cert: rotated.chain });
    const stale = await reauthorize(socket, { fresh: false });
    t.equal(stale.certificate?.serialNumber, pki.client.serial, 'a revalidation looks at the chain already presented');

    const fresh = await reauthorize(socket, { fresh: true, reason: 'rotate' });
    t.equal(fresh.allow, true);
    t.equal(fresh.trigger, 'manual');
    t.equal(fresh.certificate?.serialNumber, rotated.serial, 'the decision is about the new certificate');
    t.equal(
      socket.getPeerX509Certificate()?.serialNumber,
      rotated.serial,
      'the socket reports the new peer certificate',
    );
    t.equal(fresh.expiresAt, rotated.notAfter.getTime(), 'expiry follows the short-lived certificate');
    t.same(
      seen.at(-1),
      { trigger: 'manual', serial: rotated.serial, reauthCount: 1 },
      'the policy saw the new certificate',
    );

    // Data still flows both ways after the exchange.
    const atServer = new Received(socket);
    const atClient = new Received(client);
    client.write('ping');
    socket.write('pong');
    await atServer.until(4);
    await atClient.until(4);
    t.equal(atServer.text(), 'ping');
    t.equal(atClient.text(), 'pong');
  });
}

t.test('fresh: false revalidates against the trust store of now', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const { client, socket } = await connectPair(t, server, port, pki);
  t.equal((await reauthorize(socket)).allow, true, 'allowed while the certificate is good');

  // Change the store underneath without the server's own re-check, so only reauthorize() can notice.
  pki.ca.revoke(pki.client.serial);
  server.secureContext.setCrl(await pki.ca.crls());
  const decision = await reauthorize(socket, { fresh: false });
  t.equal(decision.allow, false);
  t.equal(decision.reason, 'CERT_REVOKED');
  t.equal(decision.source, 'verification', 'chain verification denied before any policy');
  await closed(client);
});

t.test('concurrent calls share one evaluation', async (t) => {
  const pki = await makePki();
  let calls = 0;
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      policy: async () => {
        calls++;
        await delay(100);
        return true;
      },
    }),
  );
  const { socket } = await connectPair(t, server, port, pki);

  calls = 0;
  const revalidations = await Promise.all([
    reauthorize(socket),
    reauthorize(socket),
    reauthorize(socket, { context: { a: 1 } }),
  ]);
  t.equal(calls, 2, 'two plain revalidations share a policy call; one bringing a context gets its own');
  t.equal(revalidations[0], revalidations[1]);
  t.not(revalidations[1], revalidations[2], 'new signals are a new question');

  calls = 0;
  const [fresh, again, plain] = await Promise.all([
    reauthorize(socket, { fresh: true }),
    reauthorize(socket, { fresh: true }),
    reauthorize(socket),
  ]);
  t.equal(calls, 1, 'two fresh requests and a revalidation, one certificate request and one policy call');
  t.equal(fresh, again);
  t.equal(fresh, plain, 'a revalidation is satisfied by the fresh exchange in flight');
  t.equal(fresh.allow, true);
});

t.test('an allow emits reauthorized with the decision', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const { socket } = await connectPair(t, server, port, pki);
  const event = waitFor<[Decision]>(socket, 'reauthorized');
  const decision = await reauthorize(socket, { fresh: true });
  const [emitted] = await event;
  t.equal(emitted, decision);
  t.equal(emitted.allow, true);
});

t.test('a denial destroys the socket with ERR_CTLS_DEAUTHORIZED and emits deauthorized', async (t) => {
  const pki = await makePki();
  let allow = true;
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, { policy: () => ({ allow, reason: allow ? 'ok' : 'risk-too-high' }) }),
  );

  t.test('without an error listener: destroyReason', async (t) => {
    allow = true;
    const { client, socket } = await connectPair(t, server, port, pki);
    const deauthorized = waitFor<[Decision]>(socket, 'deauthorized');
    let reauthorizedEmitted = false;
    socket.on('reauthorized', () => (reauthorizedEmitted = true));
    allow = false;
    const decision = await reauthorize(socket, { reason: 'step-up' });
    t.equal(decision.allow, false);
    t.equal(decision.reason, 'risk-too-high');
    t.equal((await deauthorized)[0], decision, "'deauthorized' carries the decision");
    t.equal(reauthorizedEmitted, false);
    await closed(socket);
    t.equal(socket.destroyed, true);
    t.equal(codeOf(socket.destroyReason), 'ERR_CTLS_DEAUTHORIZED');
    t.equal(
      (socket.destroyReason as Error & { decision?: Decision }).decision,
      decision,
      'the error carries the decision',
    );
    await closed(client);
  });

  t.test("with an error listener: an 'error' event", async (t) => {
    allow = true;
    const { client, socket } = await connectPair(t, server, port, pki);
    const error = waitFor<[Error & { code?: string }]>(socket, 'error');
    allow = false;
    const decision = await reauthorize(socket, { fresh: true });
    t.equal(decision.allow, false);
    const [err] = await error;
    t.equal(err.code, 'ERR_CTLS_DEAUTHORIZED');
    t.match(err.message, /risk-too-high/);
    await closed(client);
  });
});

t.test('destroyOnDeny: false keeps the socket open but lets nothing through', async (t) => {
  const pki = await makePki();
  let allow = true;
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy: () => allow }));
  const { client, socket } = await connectPair(t, server, port, pki);
  const atServer = new Received(socket);
  const atClient = new Received(client);
  let deauthorized = 0;
  socket.on('deauthorized', () => deauthorized++);

  allow = false;
  const decision = await reauthorize(socket, { destroyOnDeny: false });
  t.equal(decision.allow, false);
  t.equal(deauthorized, 1, "'deauthorized' is still emitted");
  t.equal(socket.destroyed, false, 'the socket stays open');

  client.write('held-inbound');
  socket.write('held-outbound');
  await delay(300);
  t.equal(atServer.bytes, 0, 'no inbound byte reaches the app after the denial');
  t.equal(atClient.bytes, 0, 'no outbound byte leaves after the denial');
  t.equal(socket.destroyed, false);

  // Held, not dropped: a later allow releases both directions in order.
  allow = true;
  t.equal((await reauthorize(socket)).allow, true);
  await atServer.until('held-inbound'.length);
  await atClient.until('held-outbound'.length);
  t.equal(atServer.text(), 'held-inbound');
  t.equal(atClient.text(), 'held-outbound');
});

t.test('a fresh request the client does not answer in time denies with reauth-timeout', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const { client, socket } = await connectPair(t, server, port, pki);
  // The client stops reading, so the CertificateRequest is never answered.
  client.transport.pause();
  const started = Date.now();
  const decision = await reauthorize(socket, { fresh: true, timeout: 300 });
  t.equal(decision.allow, false);
  t.equal(decision.reason, 'reauth-timeout');
  t.ok(Date.now() - started >= 290, 'waited for the timeout');
  await closed(socket);
  t.equal(socket.destroyed, true);
});

t.test('a client without post-handshake auth (node:tls, TLS 1.3) hits the fallback', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki, { maxVersion: 'TLSv1.3' }));

  const nodeClient = async (): Promise<{ client: tls.TLSSocket; socket: TLSSocket }> => {
    const accepted = waitFor<[TLSSocket]>(server, 'secureConnection');
    const client = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: pki.ca.rootCert,
      key: pki.client.key,
      cert: pki.client.chain,
    });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    await waitFor(client, 'secureConnect');
    const [socket] = await accepted;
    return { client, socket };
  };

  t.test("fallback: 'revalidate' allows on the presented chain, source 'fallback'", async (t) => {
    const { client, socket } = await nodeClient();
    t.equal(socket.getProtocol(), 'TLSv1.3');
    const decision = await reauthorize(socket, { fresh: true, fallback: 'revalidate' });
    t.equal(decision.allow, true);
    t.equal(decision.source, 'fallback');
    t.equal(decision.certificate?.serialNumber, pki.client.serial, 'the chain from the handshake');
    t.equal(socket.destroyed, false);
    const atServer = new Received(socket);
    client.write('still-here');
    await atServer.until(10);
    t.equal(atServer.text(), 'still-here');
  });

  t.test("fallback: 'deny' denies with fresh-unsupported", async (t) => {
    const { client, socket } = await nodeClient();
    const decision = await reauthorize(socket, { fresh: true, fallback: 'deny' });
    t.equal(decision.allow, false);
    t.equal(decision.reason, 'fresh-unsupported');
    t.equal(
      (decision as Decision & { error?: { code?: string } }).error?.code,
      'ERR_CTLS_FRESH_UNSUPPORTED',
      'the cause is kept on the decision',
    );
    await closed(socket);
    t.equal(codeOf(socket.destroyReason), 'ERR_CTLS_DEAUTHORIZED');
    await closed(client);
  });

  t.test('our client with enablePostHandshakeAuth: false behaves the same', async (t) => {
    const { socket } = await connectPair(t, server, port, pki, pki.client, { enablePostHandshakeAuth: false });
    const decision = await reauthorize(socket, { fresh: true, fallback: 'deny' });
    t.equal(decision.allow, false);
    t.equal(decision.reason, 'fresh-unsupported');
  });
});

t.test('a closed socket cannot be reauthorized', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const { socket } = await connectPair(t, server, port, pki);
  socket.destroy();
  await closed(socket);
  await t.rejects(reauthorize(socket), { code: 'ERR_CTLS_SOCKET_CLOSED' });
});
