// The audit trail: every decision (handshake, manual, fresh, interval, revocation, policy change,
// expiry, denials by verification or policy, cached answers) is emitted on the server as 'decision'
// with trigger, outcome, reason, durationMs, source and the peer's subject, serial and fingerprint,
// exactly as crypto.X509Certificate prints them, plus the socket it concerns.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { cached, reauthorize, type AuthorizationInput, type DecisionEvent, type TLSSocket } from '../dist/index.js';
import { closed, waitFor } from './helpers/owned';
import { connectPair, delay, makePki, mtlsOptions, startServer } from './helpers/mtls';

/** Collects the server's decision events with their socket. */
function recorder(server: NodeJS.EventEmitter): Array<{ event: DecisionEvent; socket: TLSSocket }> {
  const events: Array<{ event: DecisionEvent; socket: TLSSocket }> = [];
  server.on('decision', (event: DecisionEvent, socket: TLSSocket) => events.push({ event, socket }));
  return events;
}

t.test('every trigger produces a complete event about the peer certificate', async (t) => {
  const pki = await makePki();
  const x509 = new X509Certificate(pki.client.cert);
  let allow = true;
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      policy: () => ({ allow, reason: allow ? 'ok' : 'policy-says-no' }),
      reauthorize: { every: 250 },
    }),
  );
  const events = recorder(server);
  const { socket, client } = await connectPair(t, server, port, pki);

  await reauthorize(socket, { reason: 'wire-transfer' });
  await reauthorize(socket, { fresh: true });
  await waitFor(server, 'decision', 5_000); // the interval re-check
  await server.setCrl(await pki.ca.crls());
  await server.setPolicy(() => ({ allow: true, reason: 'new-policy' }));
  await server.setPolicy(() => ({ allow: false, reason: 'policy-says-no' }));
  await closed(client);
  allow = true;

  const triggers = events.map((entry) => entry.event.trigger);
  t.same(
    triggers,
    ['handshake', 'manual', 'manual', 'interval', 'revocation', 'policy-change', 'policy-change'],
    'one event per decision',
  );
  for (const { event, socket: about } of events) {
    t.equal(about, socket, `${event.trigger}: the socket comes with the event`);
    t.equal(event.subject, 'alice', `${event.trigger}: subject (the CN)`);
    t.equal(event.subjectDN, x509.subject, `${event.trigger}: subject DN`);
    t.equal(event.serial, x509.serialNumber, `${event.trigger}: serial`);
    t.equal(event.fingerprint, x509.fingerprint256, `${event.trigger}: fingerprint`);
    t.type(event.durationMs, 'number');
    t.ok(event.durationMs >= 0 && event.durationMs < 5_000, `${event.trigger}: durationMs ${event.durationMs}`);
    t.equal(event.remoteAddress, '127.0.0.1');
    t.type(event.reason, 'string');
  }
  t.same(
    events.map((entry) => entry.event.outcome),
    ['allow', 'allow', 'allow', 'allow', 'allow', 'allow', 'deny'],
  );
  t.same(
    events.map((entry) => entry.event.source),
    ['engine', 'engine', 'engine', 'engine', 'engine', 'engine', 'engine'],
  );
  t.equal(events[1]!.event.note, 'wire-transfer', "the caller's reason is kept as a note");
  t.equal(events[5]!.event.reason, 'new-policy');
  t.equal(events[6]!.event.reason, 'policy-says-no');
  t.equal(events[0]!.event.expiresAt, pki.client.notAfter.getTime());
});

t.test('denials by chain verification say so', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const events = recorder(server);
  const { socket } = await connectPair(t, server, port, pki);
  pki.ca.revoke(pki.client.serial);
  await server.setCrl(await pki.ca.crls());
  await closed(socket);
  const denial = events.at(-1)!.event;
  t.match(denial, {
    trigger: 'revocation',
    outcome: 'deny',
    reason: 'CERT_REVOKED',
    source: 'verification',
    serial: pki.client.serial,
    fingerprint: pki.client.fingerprint256,
  });
});

t.test('an expiry re-check is an event too', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, { policy: () => ({ allow: true, ttlMs: 200 }), reauthorize: { every: 0 } }),
  );
  const events = recorder(server);
  await connectPair(t, server, port, pki);
  await delay(500);
  const expiries = events.filter((entry) => entry.event.trigger === 'expiry');
  t.ok(expiries.length >= 1, `${expiries.length} expiry re-checks`);
  t.match(expiries[0]!.event, { outcome: 'allow', serial: pki.client.serial });
});

t.test("answers from a cached() policy carry source 'cache'", async (t) => {
  const pki = await makePki();
  let calls = 0;
  // It declares what it reads, so its answers can be reused for inputs equal on those facts.
  const decide = Object.assign(
    (input: AuthorizationInput) => {
      calls++;
      return { allow: true, reason: `seen ${input.peer.certificate?.serialNumber}` };
    },
    { factsRead: ['peer.certificate.serialNumber'] },
  );
  const policy = cached(decide);
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy }));
  const events = recorder(server);
  const { socket } = await connectPair(t, server, port, pki);
  await reauthorize(socket);
  await reauthorize(socket);
  await reauthorize(socket);
  // The trigger is the cache key's action: the handshake and the first manual check are misses.
  t.equal(calls, 2, 'the policy ran once per trigger');
  t.same(
    events.map((entry) => entry.event.source),
    ['engine', 'engine', 'cache', 'cache'],
  );
  t.ok(events.every((entry) => entry.event.serial === pki.client.serial));
});

t.test('a handshake denied by the policy is an event, and the socket never reaches the app', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, { policy: () => ({ allow: false, reason: 'not-today' }) }),
  );
  const events = recorder(server);
  let accepted = false;
  server.on('secureConnection', () => (accepted = true));
  const { connect } = await import('../dist/index.js');
  const client = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const [event] = await waitFor<[DecisionEvent]>(server, 'decision');
  await closed(client);
  t.match(event, {
    trigger: 'handshake',
    outcome: 'deny',
    reason: 'not-today',
    source: 'engine',
    serial: pki.client.serial,
  });
  t.equal(events.length, 1);
  t.equal(accepted, false);
});
