// The CAEP receiver on a real fleet (Redis): a SET pushed to one process is applied in every
// process, and the same SET pushed to two processes is applied at most once by each.
// (The fleet-wide jti claim is made after the apply, since a claim cannot be taken back and one made
// before a failed apply would drop the transmitter's retry; the events are idempotent.)
import t, { type Test } from 'tap';
import { createFleet, type Fleet } from '../dist/index.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { connectPair, mtlsOptions, startServer } from './helpers/mtls';
import { closed } from './helpers/owned';
import { AUDIENCE, push, serve, waitFor } from './helpers/ssf';

if (!haveRedis) t.plan(0, 'no redis-server');

async function member(t: Test, url: string): Promise<{ fleet: Fleet; applied: string[] }> {
  const fleet = await createFleet({ redis: url, name: 'ssf' });
  t.teardown(() => fleet.close());
  const applied: string[] = [];
  fleet.on('applied', (entry: { event: { type: string } }) => applied.push(entry.event.type));
  return { fleet, applied };
}

t.test('one push, every process; two pushes of one SET, at most one fleet event per receiving process', async (t) => {
  const redis = await startRedis(t);
  const a = await member(t, redis.url);
  const b = await member(t, redis.url);
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const options = { issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks() };
  const urlA = await serve(t, ssfReceiver({ ...options, fleet: a.fleet }).handler);
  const urlB = await serve(t, ssfReceiver({ ...options, fleet: b.fleet }).handler);

  const first = await transmitter.caep('session-revoked', {
    audience: AUDIENCE,
    subject: { format: 'email', email: 'alice@example.com' },
  });
  t.equal((await push(urlA, first)).status, 202);
  await waitFor(() => b.fleet.status().revokedSubjects === 1, 5_000, 'the revocation at the other process');
  t.equal(a.fleet.status().revokedSubjects, 1);
  t.equal((await push(urlB, first)).status, 202, 'the same SET at the other process: acknowledged');

  const second = await transmitter.caep('credential-change', {
    audience: AUDIENCE,
    subject: { format: 'email', email: 'bob@example.com' },
    fields: { change_type: 'revoke', credential_type: 'x509', x509_serial: '0badc0de' },
  });
  const answers = await Promise.all([push(urlA, second), push(urlB, second)]);
  t.same(
    answers.map((answer) => answer.status),
    [202, 202],
  );
  await waitFor(() => a.fleet.status().revokedSerials === 1 && b.fleet.status().revokedSerials === 1, 5_000, 'serial');
  // Let any second (wrong) entry arrive before counting.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const count = (type: string) => a.applied.filter((applied) => applied === type).length;
  t.ok(count('subject-revoked') >= 1 && count('subject-revoked') <= 2, 'each SET became one or two fleet events');
  t.ok(count('certificate-revoked') >= 1 && count('certificate-revoked') <= 2);
  t.same(b.applied, a.applied, 'every process applies the same');
  t.equal(a.fleet.status().revokedSubjects, 1, 'and holds one revocation');
});

t.test("a session-revoked SET pushed to one process cuts that subject's live connection in another", async (t) => {
  const redis = await startRedis(t);
  const receiving = await member(t, redis.url);
  const serving = await member(t, redis.url);
  const ca = await DevelopmentCA.create();
  const [server, alice, bob] = await Promise.all([
    ca.issueServer({ commonName: 'localhost' }),
    ca.issueClient({ commonName: 'alice', altNames: ['alice@example.com'] }),
    ca.issueClient({ commonName: 'bob', altNames: ['bob@example.com'] }),
  ]);
  const pki = { ca, server, client: alice };
  const { server: tls, port } = await startServer(t, mtlsOptions(pki));
  serving.fleet.watch(tls);
  const a = await connectPair(t, tls, port, pki, alice);
  const b = await connectPair(t, tls, port, pki, bob);

  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const receiver = ssfReceiver({
    issuer: transmitter.issuer,
    audience: AUDIENCE,
    jwks: transmitter.jwks(),
    fleet: receiving.fleet,
  });
  const url = await serve(t, receiver.handler);
  const set = await transmitter.caep('session-revoked', {
    audience: AUDIENCE,
    subject: { format: 'email', email: 'alice@example.com' },
  });
  t.equal((await push(url, set)).status, 202);
  await closed(a.socket, 5_000);
  t.ok(a.socket.destroyed, "alice's connection is cut in the other process");
  t.notOk(b.socket.destroyed, "bob's is not");
});
