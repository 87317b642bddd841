// Decision guards as the engines see them (what a fleet drives through [kGuardHost]): a guard's
// denial cuts exactly the connections its change names, every later decision consults it before
// the policy, a change while a decision is pending makes that decision again, its signals reach
// the policy and every cache key, and a guard that throws denies.
import t, { type Test } from 'tap';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { attach, connect, reauthorize, type AuthorizationInput, type Decision, type TLSSocket } from '../dist/index.js';
import { kGuardHost, type DecisionGuard, type GuardFacts, type GuardHost } from '../dist/authz/guard.js';
import { authorizeRequest } from '../dist/http/index.js';
import { DecisionCache } from '../dist/policy/cache.js';
import { codeOf, connectPair, delay, makePki, mtlsOptions, startServer, type Pki } from './helpers/mtls';
import { closed, listen, waitFor } from './helpers/owned';

/** A guard keyed by leaf and intermediate serials, with per-serial signals and a switchable failure. */
class SerialGuard implements DecisionGuard {
  generation = 0;
  readonly revoked = new Set<string>();
  readonly signals = new Map<string, Record<string, unknown>>();
  judged = 0;
  failing = false;
  stale = false;

  judge(facts: GuardFacts): ReturnType<DecisionGuard['judge']> {
    this.judged++;
    if (this.failing) throw new Error('guard state unreadable');
    if (this.stale) return { deny: 'fleet-stale' };
    for (const certificate of facts.chain) if (this.revoked.has(certificate.serialNumber)) return { deny: 'revoked' };
    const leaf = facts.chain[0];
    const signals = leaf === undefined ? undefined : this.signals.get(leaf.serialNumber);
    return signals === undefined ? {} : { signals };
  }

  keys(facts: GuardFacts): string[] {
    return facts.chain.map((certificate) => `serial:${certificate.serialNumber}`);
  }

  revoke(serial: string): string[] {
    this.revoked.add(serial);
    this.generation++;
    return [`serial:${serial}`];
  }
}

/** A thisUpdate before the default one, so a CRL issued now is the newer of two. */
const older = (): Date => new Date(Date.now() - 300_000);

function serialOf(socket: { getPeerX509Certificate(): X509Certificate | undefined }): string {
  return socket.getPeerX509Certificate()!.serialNumber;
}

/** A client of ours that is not waited for: for connections the server is expected to refuse. */
function rawClient(t: Test, port: number, pki: Pki, identity: Pki['client']): TLSSocket {
  const client = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: identity.key,
    cert: identity.chain,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  return client;
}

async function twoIdentities(): Promise<Pki & { bob: Pki['client'] }> {
  const pki = await makePki('alice');
  return { ...pki, bob: await pki.ca.issueClient({ commonName: 'bob' }) };
}

t.test('owned tier: a targeted re-check cuts the named connection and decides no other', async (t) => {
  const pki = await twoIdentities();
  let policyCalls = 0;
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      policy: () => {
        policyCalls++;
        return { allow: true, reason: 'ok' };
      },
    }),
  );
  const host: GuardHost = (server as unknown as { [kGuardHost]: GuardHost })[kGuardHost];
  t.equal(host.kind, 'server');
  const guard = new SerialGuard();
  host.addGuard(guard);
  const alice = await connectPair(t, server, port, pki, pki.client);
  const bob = await connectPair(t, server, port, pki, pki.bob);
  const others = [];
  for (let i = 0; i < 3; i++) others.push(await connectPair(t, server, port, pki, pki.bob));
  t.equal(host.connectionCount, 5, `five live connections (${host.connectionCount})`);

  const callsBefore = policyCalls;
  const decisions = await host.recheckKeys(guard.revoke(serialOf(alice.socket)), 'revocation');
  t.equal(decisions.length, 1, 'only the connection presenting the serial is re-decided');
  t.equal(decisions[0]!.allow, false);
  t.equal(decisions[0]!.reason, 'revoked');
  t.equal(decisions[0]!.trigger, 'revocation');
  t.equal(policyCalls, callsBefore, 'the guard denies before the policy runs');
  await closed(alice.socket);
  t.equal(codeOf(alice.socket.destroyReason), 'ERR_CTLS_DEAUTHORIZED');

  // Bob's connections were not touched and still carry data.
  for (const pair of [bob, ...others]) t.equal(pair.socket.destroyed, false);
  const echoed = waitFor<[Buffer]>(bob.socket, 'data');
  bob.client.write('still here');
  t.equal(String((await echoed)[0]), 'still here');

  // A new connection with the revoked certificate is refused at its first decision.
  const denied = waitFor<[{ reason: string }]>(server, 'decision');
  const again = rawClient(t, port, pki, pki.client);
  const [event] = await denied;
  t.equal(event.reason, 'revoked');
  await closed(again);
});

t.test('owned tier: a guard change while a decision is pending makes it again', async (t) => {
  const pki = await twoIdentities();
  let release: () => void = () => {};
  let slow = false;
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      policy: async () => {
        if (slow) await new Promise<void>((resolve) => (release = resolve));
        return { allow: true, reason: 'ok' };
      },
    }),
  );
  const guard = new SerialGuard();
  (server as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  const { socket } = await connectPair(t, server, port, pki, pki.client);
  socket.on('error', () => {});
  slow = true;
  const pending = reauthorize(socket, { reason: 'before-transfer' });
  await delay(20);
  // The revocation arrives while the policy is deciding, without any re-check naming the socket.
  guard.revoke(serialOf(socket));
  slow = false;
  release();
  const decision = await pending;
  t.equal(decision.allow, false, 'the answer made before the revocation is not used');
  t.equal(decision.reason, 'revoked');
});

t.test('owned tier: signals reach the policy, and a guard that throws denies', async (t) => {
  const pki = await twoIdentities();
  const seen: Array<AuthorizationInput['signals']> = [];
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      policy: (input: AuthorizationInput) => {
        seen.push(input.signals);
        const device = (input.signals?.['device'] as { status?: string } | undefined)?.status;
        return device === 'not-compliant' ? { allow: false, reason: 'device' } : { allow: true, reason: 'ok' };
      },
    }),
  );
  const host = (server as unknown as { [kGuardHost]: GuardHost })[kGuardHost];
  const guard = new SerialGuard();
  host.addGuard(guard);
  const alice = await connectPair(t, server, port, pki, pki.client);
  const bob = await connectPair(t, server, port, pki, pki.bob);
  t.same(seen, [undefined, undefined], 'no signals: the input has none');

  const aliceSerial = serialOf(alice.socket);
  guard.signals.set(aliceSerial, { device: { status: 'not-compliant' } });
  guard.generation++;
  const decisions = await host.recheckKeys([`serial:${aliceSerial}`], 'signals');
  t.equal(decisions.length, 1);
  t.equal(decisions[0]!.reason, 'device');
  t.same(seen.at(-1), { device: { status: 'not-compliant' } });
  await closed(alice.socket);

  guard.failing = true;
  const decision = await reauthorize(bob.socket, { destroyOnDeny: false });
  t.equal(decision.allow, false, 'a guard that cannot answer denies');
  t.equal(decision.reason, 'guard-error');

  host.removeGuard(guard);
  const after = await reauthorize(bob.socket);
  t.equal(after.allow, true, 'a removed guard is no longer consulted');
});

t.test('owned tier: shared CRLs apply beside the context own ones, through the trust path', async (t) => {
  const pki = await twoIdentities();
  const { server, port } = await startServer(t, mtlsOptions(pki, { crl: await pki.ca.crls({ thisUpdate: older() }) }));
  const host = (server as unknown as { [kGuardHost]: GuardHost })[kGuardHost];
  const alice = await connectPair(t, server, port, pki, pki.client);
  const bob = await connectPair(t, server, port, pki, pki.bob);
  const trustChanges: string[] = [];
  server.on('trustChange', (what: string) => trustChanges.push(what));
  pki.ca.revoke(serialOf(alice.socket));
  // Two CRLs of one issuer: OpenSSL uses the one issued last, here the shared one.
  const decisions = await host.setSharedCrls([Buffer.from(await pki.ca.crl())]);
  t.same(trustChanges, ['crl']);
  t.equal(decisions.filter((d: Decision) => !d.allow).length, 1);
  await closed(alice.socket);
  t.equal(bob.socket.destroyed, false);
  // The server's own CRL replaced later does not drop the shared one.
  await server.setCrl(await pki.ca.crls({ thisUpdate: older() }));
  const refused = waitFor<[Error & { verifyError?: string }]>(server, 'tlsClientError');
  const again = rawClient(t, port, pki, pki.client);
  t.equal((await refused)[0].verifyError, 'CERT_REVOKED', 'the handshake itself refuses the revoked certificate');
  await closed(again);
  await t.rejects(host.setSharedCrls([Buffer.from('not a crl')]), { code: 'ERR_CTLS_BAD_PEM' });
  t.equal(bob.socket.destroyed, false, 'a bad shared CRL changes nothing');
});

t.test('attached tier: a targeted re-check cuts only the named connection', async (t) => {
  const pki = await twoIdentities();
  const server = tls.createServer({
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
    rejectUnauthorized: true,
  });
  const attachment = attach(server, { ca: pki.ca.rootCert });
  t.teardown(() => attachment.detach());
  server.on('secureConnection', (socket: tls.TLSSocket) => socket.pipe(socket));
  const port = await listen(t, server);
  const host = attachment[kGuardHost];
  t.equal(host.kind, 'attachment');
  const guard = new SerialGuard();
  host.addGuard(guard);
  const clients = new Map<string, tls.TLSSocket>();
  for (const [name, identity] of [
    ['alice', pki.client],
    ['bob', pki.bob],
  ] as const) {
    const accepted = waitFor<[tls.TLSSocket]>(server, 'secureConnection');
    const client = tls.connect({
      port,
      host: '127.0.0.1',
      ca: pki.ca.rootCert,
      key: identity.key,
      cert: identity.chain,
    });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    await waitFor(client, 'secureConnect');
    await accepted;
    clients.set(name, client);
  }
  const aliceSerial = clients.get('alice')!.getX509Certificate()!.serialNumber;
  const decisions = await host.recheckKeys(guard.revoke(aliceSerial), 'revocation');
  t.equal(decisions.length, 1);
  t.equal(decisions[0]!.allow, false);
  await closed(clients.get('alice')!);
  const bob = clients.get('bob')!;
  const echoed = waitFor<[Buffer]>(bob, 'data');
  bob.write('ping');
  t.equal(String((await echoed)[0]), 'ping', 'the other connection still works');
});

t.test('REST: guards judge every request before the policy and its cache', async (t) => {
  const pki = await twoIdentities();
  let policyCalls = 0;
  let slow: Promise<void> | null = null;
  const seen: Array<AuthorizationInput['signals']> = [];
  const policy = Object.assign(
    async (input: AuthorizationInput) => {
      policyCalls++;
      seen.push(input.signals);
      if (slow) await slow;
      return { allow: true, reason: 'ok', ttlMs: 60_000 };
    },
    { factsRead: () => ['request.path'] },
  );
  const authorizer = authorizeRequest({ policy, cache: new DecisionCache() });
  const host = authorizer[kGuardHost];
  t.equal(host.kind, 'requests');
  const guard = new SerialGuard();
  host.addGuard(guard);
  const server = https.createServer(
    { key: pki.server.key, cert: pki.server.chain, ca: pki.ca.rootCert, requestCert: true, rejectUnauthorized: true },
    authorizer.node((_req, res) => res.end('ok')),
  );
  const port = await listen(t, server);
  const agent = new https.Agent({ keepAlive: false });
  t.teardown(() => agent.destroy());
  const get = (identity: Pki['client']): Promise<{ status: number; serial: string }> =>
    new Promise((resolve, reject) => {
      const req = https.get(
        {
          host: '127.0.0.1',
          port,
          path: '/a',
          ca: pki.ca.rootCert,
          key: identity.key,
          cert: identity.chain,
          servername: 'localhost',
          agent,
        },
        (res) => {
          res.resume();
          const serial = (res.socket as tls.TLSSocket).getX509Certificate()!.serialNumber;
          res.on('end', () => resolve({ status: res.statusCode!, serial }));
        },
      );
      req.on('error', reject);
    });

  const first = await get(pki.client);
  t.equal(first.status, 200);
  t.equal((await get(pki.client)).status, 200);
  t.equal(policyCalls, 1, 'the second request was answered from the cache');

  // Signals change the key: the cached answer made without them is not reused.
  guard.signals.set(first.serial, { assurance: { current_level: 'aal1' } });
  guard.generation++;
  t.equal((await get(pki.client)).status, 200);
  t.equal(policyCalls, 2);
  t.same(seen.at(-1), { assurance: { current_level: 'aal1' } });

  guard.revoke(first.serial);
  const calls = policyCalls;
  t.equal((await get(pki.client)).status, 403, 'a revoked peer is refused, cache or not');
  t.equal(policyCalls, calls);
  t.equal((await get(pki.bob)).status, 200, 'another peer is not');

  guard.stale = true;
  guard.generation++;
  t.equal((await get(pki.bob)).status, 503, 'a stale fleet cannot decide: service unavailable');
  guard.stale = false;
  guard.generation++;

  // A guard change while the policy decides sends the request back to be decided again.
  let release: () => void = () => {};
  slow = new Promise<void>((resolve) => (release = resolve));
  await host.invalidatePolicy();
  const before = policyCalls;
  const pending = get(pki.bob);
  while (policyCalls === before) await delay(5);
  guard.revoke(new X509Certificate(pki.bob.cert).serialNumber);
  slow = null;
  release();
  t.equal((await pending).status, 403, 'the answer made before the revocation is not used');
});

t.test('the index follows connections: closed ones leave it, a late guard indexes live ones', async (t) => {
  const pki = await twoIdentities();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const host = (server as unknown as { [kGuardHost]: GuardHost })[kGuardHost];
  const alice = await connectPair(t, server, port, pki, pki.client);
  const serial = serialOf(alice.socket);
  // Added after the connection was admitted: the live connection is indexed at once.
  const guard = new SerialGuard();
  host.addGuard(guard);
  const pair = await connectPair(t, server, port, pki, pki.client);
  pair.client.destroy();
  await closed(pair.socket as TLSSocket);
  const decisions = await host.recheckKeys(guard.revoke(serial), 'revocation');
  t.equal(decisions.length, 1, 'the closed connection is gone from the index, the live one is in it');
  await closed(alice.socket);
});

t.test('a decision whose guard verdict never settles denies after a bounded number of rounds', async (t) => {
  const pki = await twoIdentities();
  let calls = 0;
  let churn = false;
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      policy: async () => {
        calls++;
        await delay(1);
        return { allow: true, reason: 'ok' };
      },
    }),
  );
  // Signals that change at every judgement, with the generation moving: the verdict never holds.
  const guard = new SerialGuard();
  const judge = guard.judge.bind(guard);
  guard.judge = (facts) => {
    if (!churn) return judge(facts);
    guard.generation++;
    return { signals: { churn: guard.generation } };
  };
  (server as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  const { socket } = await connectPair(t, server, port, pki, pki.client);
  socket.on('error', () => {});
  churn = true;
  const before = calls;
  const decision = await reauthorize(socket, { destroyOnDeny: false });
  t.equal(decision.allow, false);
  t.equal(decision.reason, 'trust-unsettled');
  t.equal(calls - before, 16, 'one policy call per round, then it stops');
});
