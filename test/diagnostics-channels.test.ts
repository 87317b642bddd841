// node:diagnostics_channel, the way APM tools subscribe: every decision of both tiers and of
// authorizeRequest on 'continuous-tls:decision' with its tier and audit event, fresh certificate
// requests on the 'continuous-tls:reauthentication' TracingChannel (start, end, asyncEnd, error),
// and trust changes of a watched context on 'continuous-tls:trust-change'.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import diagnosticsChannel from 'node:diagnostics_channel';
import {
  attach,
  authorizeRequest,
  channels,
  reauthorize,
  type DecisionMessage,
  type ReauthenticationMessage,
  type TrustChangeMessage,
} from '../dist/index.js';
import { listen, waitFor } from './helpers/owned';
import { connectPair, makePki, mtlsOptions, startServer } from './helpers/mtls';
import { client, startHttps } from './helpers/policy-https';

/** Subscribes to a channel for the duration of the test; returns what it received. */
function subscribe<T>(t: Test, name: string): T[] {
  const received: T[] = [];
  const onMessage = (message: unknown): void => void received.push(message as T);
  diagnosticsChannel.subscribe(name, onMessage);
  t.teardown(() => diagnosticsChannel.unsubscribe(name, onMessage));
  return received;
}

t.test('the channel names are exported under the continuous-tls: prefix', async (t) => {
  t.same(channels, {
    decision: 'continuous-tls:decision',
    reauthentication: 'continuous-tls:reauthentication',
    trustChange: 'continuous-tls:trust-change',
  });
  t.ok(Object.isFrozen(channels));
});

t.test('owned tier: decisions, a fresh re-authentication and a trust change', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const decisions = subscribe<DecisionMessage>(t, channels.decision);
  const trust = subscribe<TrustChangeMessage>(t, channels.trustChange);
  const reauth = {
    start: subscribe<ReauthenticationMessage>(t, `tracing:${channels.reauthentication}:start`),
    end: subscribe<ReauthenticationMessage>(t, `tracing:${channels.reauthentication}:end`),
    asyncEnd: subscribe<ReauthenticationMessage>(t, `tracing:${channels.reauthentication}:asyncEnd`),
    error: subscribe<ReauthenticationMessage>(t, `tracing:${channels.reauthentication}:error`),
  };
  const { socket } = await connectPair(t, server, port, pki);
  await reauthorize(socket, { fresh: true, reason: 'wire-transfer' });
  await server.setCrl(await pki.ca.crls());

  t.same(
    decisions.map((m) => [m.tier, m.event.trigger, m.event.outcome]),
    [
      ['owned', 'handshake', 'allow'],
      ['owned', 'manual', 'allow'],
      ['owned', 'revocation', 'allow'],
    ],
  );
  t.equal(decisions[0]!.socket, socket, 'the socket comes with the message');
  t.match(decisions[1]!.event, { subject: 'alice', note: 'wire-transfer', source: 'engine' });

  t.equal(reauth.start.length, 1, 'one fresh request started');
  t.equal(reauth.asyncEnd.length, 1, 'and answered');
  t.equal(reauth.error.length, 0);
  t.match(reauth.start[0], { tier: 'owned', trigger: 'manual', socket, timeout: Number });
  t.equal(reauth.asyncEnd[0], reauth.start[0], 'one context object from start to end');

  t.equal(trust.length, 1, 'setCrl is one trust change');
  t.match(trust[0], { tier: 'owned', trust: server.secureContext, revocation: 'best-effort' });
  t.equal(trust[0]!.generation, server.secureContext.trustGeneration);
});

t.test('a failed fresh request publishes on the error channel', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const errors = subscribe<ReauthenticationMessage>(t, `tracing:${channels.reauthentication}:error`);
  const { socket, client: peer } = await connectPair(t, server, port, pki);
  // A peer that never answers the certificate request: the request times out.
  peer.transport.pause();
  const decision = await reauthorize(socket, { fresh: true, timeout: 200, destroyOnDeny: false });
  t.equal(decision.allow, false);
  t.equal(errors.length, 1);
  t.match(errors[0], { tier: 'owned', trigger: 'manual', error: Error });
});

t.test('attached tier: decisions and trust changes say attached', async (t) => {
  const pki = await makePki();
  const server = tls.createServer({
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
  });
  server.on('secureConnection', (socket) => socket.on('error', () => {}));
  const attachment = attach(server, { ca: pki.ca.rootCert, intermediates: pki.ca.issuerChain });
  t.teardown(() => attachment.detach());
  const port = await listen(t, server);
  const decisions = subscribe<DecisionMessage>(t, channels.decision);
  const trust = subscribe<TrustChangeMessage>(t, channels.trustChange);
  const peer = tls.connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
  });
  peer.on('error', () => {});
  t.teardown(() => peer.destroy());
  await waitFor(server, 'secureConnection');
  await attachment.setCrl(await pki.ca.crls());
  t.same(
    decisions.map((m) => [m.tier, m.event.trigger, m.event.outcome]),
    [
      ['attached', 'handshake', 'allow'],
      ['attached', 'revocation', 'allow'],
    ],
  );
  t.match(decisions[0]!.event, { subject: 'alice', remoteAddress: '127.0.0.1' });
  t.match(
    trust.map((m) => m.tier),
    ['attached'],
  );
});

t.test('authorizeRequest: every request decision, with the request', async (t) => {
  const decisions = subscribe<DecisionMessage>(t, channels.decision);
  const guard = authorizeRequest({ policy: (input) => input.request?.path !== '/admin' });
  const url = await startHttps(
    t,
    guard.node((_req, res) => res.end('ok')),
  );
  const alice = client(t, url, 'alice');
  t.equal((await alice('GET', '/items')).status, 200);
  t.equal((await alice('GET', '/admin')).status, 403);
  t.same(
    decisions.map((m) => [m.tier, m.event.trigger, m.event.outcome]),
    [
      ['request', 'request', 'allow'],
      ['request', 'request', 'deny'],
    ],
  );
  t.match(decisions[0]!.request, { method: 'GET', url: '/items' });
  t.equal(decisions[0]!.socket, undefined);
});

t.test('nothing is published without subscribers', async (t) => {
  const seen: unknown[] = [];
  const onMessage = (message: unknown): void => void seen.push(message);
  const guard = authorizeRequest({ policy: () => true });
  const url = await startHttps(
    t,
    guard.node((_req, res) => res.end('ok')),
  );
  t.equal(diagnosticsChannel.channel(channels.decision).hasSubscribers, false);
  await client(t, url, 'alice')('GET', '/');
  diagnosticsChannel.subscribe(channels.decision, onMessage);
  t.teardown(() => diagnosticsChannel.unsubscribe(channels.decision, onMessage));
  t.same(seen, [], 'the earlier decision was not queued for later subscribers');
});
