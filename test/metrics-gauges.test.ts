// DecisionMetrics gauges beside the counters: ctls_connections{tier} and
// ctls_pending_decisions{tier}, read at scrape time from the servers, attachments and request
// authorizers given to metrics.observe(); observing stops with the function it returns.
import t from 'tap';
import * as tls from 'node:tls';
import { attach, authorizeRequest, createDecisionMetrics, reauthorize, type Decision } from '../dist/index.js';
import { listen, waitFor } from './helpers/owned';
import { connectPair, makePki, mtlsOptions, startServer } from './helpers/mtls';
import { client, startHttps } from './helpers/policy-https';

/** A policy that allows, and waits for release() while `held` is set. */
function gatedPolicy() {
  const gate = { held: false, waiting: [] as Array<() => void> };
  const policy = (): boolean | Promise<boolean> =>
    gate.held ? new Promise<boolean>((resolve) => gate.waiting.push(() => resolve(true))) : true;
  const release = (): void => {
    gate.held = false;
    for (const resume of gate.waiting.splice(0)) resume();
  };
  return { gate, policy, release };
}

const value = (text: string, name: string, tier: string): number | undefined => {
  const match = new RegExp(`^ctls_${name}\\{tier="${tier}"\\} (\\d+)$`, 'm').exec(text);
  return match === null ? undefined : Number(match[1]);
};

t.test('owned tier: live connections and a pending decision', async (t) => {
  const pki = await makePki();
  const { gate, policy, release } = gatedPolicy();
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy, policyTimeout: 5_000 }));
  const metrics = createDecisionMetrics();
  const stop = metrics.observe(server);
  let text = await metrics.metricsText();
  t.match(text, /# TYPE ctls_connections gauge/);
  t.match(text, /# TYPE ctls_pending_decisions gauge/);
  t.equal(value(text, 'connections', 'owned'), 0, 'observed and idle: 0, not absent');

  const { socket } = await connectPair(t, server, port, pki);
  await connectPair(t, server, port, pki);
  gate.held = true;
  const pending = reauthorize(socket);
  text = await metrics.metricsText();
  t.equal(value(text, 'connections', 'owned'), 2);
  t.equal(value(text, 'pending_decisions', 'owned'), 1);
  release();
  t.equal(((await pending) as Decision).allow, true);
  text = await metrics.metricsText();
  t.equal(value(text, 'pending_decisions', 'owned'), 0, 'concluded');

  stop();
  text = await metrics.metricsText();
  t.equal(value(text, 'connections', 'owned'), undefined, 'no longer observed');
});

t.test('attached tier and its engine', async (t) => {
  const pki = await makePki();
  const server = tls.createServer({
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
  });
  server.on('secureConnection', (s) => s.on('error', () => {}));
  const attachment = attach(server, { ca: pki.ca.rootCert, intermediates: pki.ca.issuerChain });
  t.teardown(() => attachment.detach());
  const port = await listen(t, server);
  const metrics = createDecisionMetrics();
  metrics.observe(attachment);
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
  const text = await metrics.metricsText();
  t.equal(value(text, 'connections', 'attached'), 1);
  t.equal(value(text, 'pending_decisions', 'attached'), 0);
  t.equal(value(text, 'connections', 'owned'), undefined, 'only observed tiers show');
});

t.test('authorizeRequest: requests being decided', async (t) => {
  const { gate, policy, release } = gatedPolicy();
  const guard = authorizeRequest({ policy, policyTimeout: 5_000 });
  const metrics = createDecisionMetrics();
  metrics.observe(guard);
  const url = await startHttps(
    t,
    guard.node((_req, res) => res.end('ok')),
  );
  const alice = client(t, url, 'alice');
  gate.held = true;
  const replies = [alice('GET', '/a'), alice('GET', '/b')];
  while (gate.waiting.length < 2) await new Promise((r) => setTimeout(r, 5));
  let text = await metrics.metricsText();
  t.equal(value(text, 'pending_decisions', 'request'), 2);
  t.notMatch(text, /ctls_connections\{tier="request"\}/, 'a request authorizer tracks no connections');
  release();
  t.same(
    (await Promise.all(replies)).map((r) => r.status),
    [200, 200],
  );
  text = await metrics.metricsText();
  t.equal(value(text, 'pending_decisions', 'request'), 0);
});

t.test('observe() refuses what it cannot read', async (t) => {
  const metrics = createDecisionMetrics();
  for (const bad of [null, {}, { authorizer: {} }, 'server']) {
    t.throws(() => metrics.observe(bad as never), { code: 'ERR_CTLS_INVALID_OPTION' });
  }
});
