/**
 * A fleet driving real targets in one process: an owned Server cuts a peer revoked by a shared CRL
 * or a serial and re-decides with a subject's new signals; a REST authorizer refuses a revoked
 * subject's requests; a strict fleet that cannot hear its feed refuses new connections until it
 * can; a member that starts late admits no peer the fleet already revoked.
 */
import t, { type Test } from 'tap';
import * as https from 'node:https';
import { once } from 'node:events';
import { connect, createFleet, type AuthorizationInput, type Fleet, type TLSSocket } from '../dist/index.js';
import { authorizeRequest } from '../dist/http/index.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { haveRedis, startRedis } from './helpers/redis';
import { codeOf, connectPair, mtlsOptions, startServer, type Pki } from './helpers/mtls';
import { closed, listen, waitFor } from './helpers/owned';

if (!haveRedis) t.plan(0, 'no redis-server');

async function pkiOf(): Promise<Pki & { bob: Pki['client'] }> {
  const ca = await DevelopmentCA.create();
  const [server, client, bob] = await Promise.all([
    ca.issueServer({ commonName: 'localhost' }),
    ca.issueClient({ commonName: 'alice', altNames: ['alice@example.com'] }),
    ca.issueClient({ commonName: 'bob', altNames: ['bob@example.com'] }),
  ]);
  return { ca, server, client, bob };
}

async function fleetAt(t: Test, url: string, name: string, extra: Record<string, unknown> = {}): Promise<Fleet> {
  const fleet = await createFleet({ redis: url, name, ...extra });
  t.teardown(() => fleet.close());
  return fleet;
}

/** Connects and resolves with 'admitted' or 'refused' (our client, not waited on by the server). */
async function tryConnect(t: Test, port: number, pki: Pki, identity: Pki['client']): Promise<string> {
  const client: TLSSocket = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: identity.key,
    cert: identity.chain,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect');
  client.write('ping');
  const answer = await Promise.race([
    once(client, 'data').then(() => 'admitted'),
    closed(client).then(() => 'refused'),
  ]);
  client.destroy();
  return answer;
}

function pipeBack(socket: TLSSocket): void {
  socket.on('error', () => {});
  socket.pipe(socket);
}

const echo = { policy: () => ({ allow: true, reason: 'ok' }) };

t.test('owned Server: a shared CRL and a revoked serial cut exactly their peers', async (t) => {
  const redis = await startRedis(t);
  const pki = await pkiOf();
  const { server, port } = await startServer(t, mtlsOptions(pki, echo));
  server.on('secureConnection', pipeBack);
  const fleet = await fleetAt(t, redis.url, 'owned');
  const other = await fleetAt(t, redis.url, 'owned');
  fleet.watch(server);
  const alice = await connectPair(t, server, port, pki, pki.client);
  const bob = await connectPair(t, server, port, pki, pki.bob);

  pki.ca.revoke(pki.bob.serial);
  const receipt = await other.publishCrl(await pki.ca.crls());
  t.equal(receipt.decisions, 0, 'the publisher watches nothing');
  await closed(bob.socket);
  t.equal(codeOf(bob.socket.destroyReason), 'ERR_CTLS_DEAUTHORIZED');
  t.equal(alice.socket.destroyed, false);
  t.equal(await tryConnect(t, port, pki, pki.bob), 'refused', 'a new connection of the CRL-revoked peer');

  const denied = waitFor<[{ reason: string }]>(server, 'decision');
  await other.revokeCertificate({ serial: pki.client.serial, reason: 'key compromise' });
  t.equal((await denied)[0].reason, 'certificate-revoked');
  await closed(alice.socket);
  t.equal(await tryConnect(t, port, pki, pki.client), 'refused');
});

t.test('owned Server: signals reach the policy of the subject they name, re-decided at once', async (t) => {
  const redis = await startRedis(t);
  const pki = await pkiOf();
  const seen: Array<{ who: string | undefined; signals: unknown; trigger: string }> = [];
  const policy = (input: AuthorizationInput): { allow: boolean; reason: string } => {
    seen.push({ who: input.peer.certificate?.subject, signals: input.signals, trigger: input.trigger });
    const device = (input.signals as { device?: { compliant?: boolean } } | undefined)?.device;
    return device?.compliant === false ? { allow: false, reason: 'device' } : { allow: true, reason: 'ok' };
  };
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy }));
  const fleet = await fleetAt(t, redis.url, 'signals');
  fleet.watch(server);
  const alice = await connectPair(t, server, port, pki, pki.client);
  const bob = await connectPair(t, server, port, pki, pki.bob);
  seen.length = 0;
  const receipt = await fleet.publish({
    type: 'signals',
    subject: { format: 'email', email: 'bob@example.com' },
    signals: { device: { compliant: false } },
  });
  t.equal(receipt.decisions, 1, 'one connection re-decided');
  t.match(seen, [{ signals: { device: { compliant: false } }, trigger: 'signals' }]);
  await closed(bob.socket);
  t.equal(alice.socket.destroyed, false);
});

t.test('REST: a revoked subject is refused, another is not', async (t) => {
  const redis = await startRedis(t);
  const pki = await pkiOf();
  const authorizer = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok', ttlMs: 60_000 }) });
  const fleet = await fleetAt(t, redis.url, 'rest');
  fleet.watch(authorizer);
  const server = https.createServer(
    { key: pki.server.key, cert: pki.server.chain, ca: pki.ca.rootCert, requestCert: true },
    authorizer.node((_req, res) => res.end('ok')),
  );
  const port = await listen(t, server);
  // Keep-alive: a subject revocation cuts the sessions established before it, so bob's requests
  // after it travel on the connection he had before it.
  const agents = new Map<Pki['client'], https.Agent>();
  t.teardown(() => agents.forEach((agent) => agent.destroy()));
  const get = (identity: Pki['client']): Promise<number> =>
    new Promise((resolve, reject) => {
      let agent = agents.get(identity);
      if (agent === undefined) agents.set(identity, (agent = new https.Agent({ keepAlive: true, maxSockets: 1 })));
      const req = https.get(
        {
          host: '127.0.0.1',
          port,
          path: '/',
          ca: pki.ca.rootCert,
          key: identity.key,
          cert: identity.chain,
          agent,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
    });
  t.equal(await get(pki.bob), 200);
  await fleet.revokeSubject({ format: 'email', email: 'bob@example.com' });
  t.equal(await get(pki.bob), 403);
  t.equal(await get(pki.client), 200);
});

t.test('strict: a fleet that cannot hear its feed refuses new connections until it can', async (t) => {
  const redis = await startRedis(t);
  const proxy = await redis.proxy();
  const pki = await pkiOf();
  const { server, port } = await startServer(t, mtlsOptions(pki, echo));
  server.on('secureConnection', pipeBack);
  const fleet = await fleetAt(t, proxy.url, 'strict', { maxStaleness: 300 });
  fleet.on('warning', () => {});
  fleet.watch(server);
  t.equal(await tryConnect(t, port, pki, pki.client), 'admitted');
  proxy.cut();
  await once(fleet, 'stale');
  const denied = waitFor<[{ reason: string }]>(server, 'decision');
  t.equal(await tryConnect(t, port, pki, pki.client), 'refused');
  t.equal((await denied)[0].reason, 'fleet-stale');
  proxy.restore();
  await once(fleet, 'fresh');
  t.equal(await tryConnect(t, port, pki, pki.client), 'admitted');
});

t.test('a late member admits no peer the fleet revoked before it started', async (t) => {
  const redis = await startRedis(t);
  const pki = await pkiOf();
  const early = await fleetAt(t, redis.url, 'late');
  await early.revokeCertificate({ serial: pki.bob.serial });
  const { server, port } = await startServer(t, mtlsOptions(pki, echo));
  server.on('secureConnection', pipeBack);
  const late = await fleetAt(t, redis.url, 'late');
  late.watch(server);
  t.equal(await tryConnect(t, port, pki, pki.bob), 'refused');
  t.equal(await tryConnect(t, port, pki, pki.client), 'admitted');
});
