// Prometheus metrics fed from the REST middleware's decisions: counters by outcome/source/trigger,
// the latency histogram, and an injected registry (never prom-client's global one).
import t from 'tap';
import { register as globalRegistry, Registry } from 'prom-client';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { DecisionMetrics, createDecisionMetrics } from '../dist/http/metrics.js';
import { decisionEvent, type AuditEvent as DecisionEvent } from '../dist/authz/audit-event.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { client, startHttps } from './helpers/policy-https';

t.test('decisions show up as ctls_decisions_total and ctls_decision_duration_seconds', async (t) => {
  const metrics = createDecisionMetrics();
  const events: DecisionEvent[] = [];
  const authz = authorizeRequest({
    // It reads the certificate only, and says so: the default cache is on.
    policy: Object.assign(
      (input: AuthorizationInput) => input.peer.certificate?.subject.includes('CN=alice') === true,
      { factsRead: ['peer.certificate'] },
    ),
    onDecision: (d, input) => {
      const e = decisionEvent(d, input);
      events.push(e);
      metrics.recordDecision(e);
    },
  });
  const url = await startHttps(
    t,
    authz.node((_req, res) => res.end('ok')),
  );
  const alice = client(t, url, 'alice');
  await alice('GET', '/a');
  await alice('GET', '/a');
  await alice('GET', '/a');
  await client(t, url, 'bob')('GET', '/a');

  t.match(events[0], { trigger: 'request', outcome: 'allow', source: 'engine', subject: 'alice', reason: 'allowed' });
  t.match(events[0]!.serial, /^[0-9A-F]+$/);
  t.match(events[0]!.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  t.match(events[3], { outcome: 'deny', subject: 'bob', reason: 'denied' });

  const text = await metrics.metricsText();
  t.match(text, /# TYPE ctls_decisions_total counter/);
  t.match(text, /ctls_decisions_total\{outcome="allow",source="engine",trigger="request"\} 1/);
  t.match(text, /ctls_decisions_total\{outcome="allow",source="cache",trigger="request"\} 2/);
  t.match(text, /ctls_decisions_total\{outcome="deny",source="engine",trigger="request"\} 1/);
  t.match(text, /# TYPE ctls_decision_duration_seconds histogram/);
  t.match(text, /ctls_decision_duration_seconds_count\{outcome="allow",source="cache",trigger="request"\} 2/);
  t.match(metrics.contentType, /^text\/plain/);
  t.notMatch(await globalRegistry.metrics(), /ctls_decisions_total/, 'the global registry is left alone');
});

t.test('an injected registry and prefix; engine events of any trigger', async (t) => {
  const registry = new Registry();
  const metrics = new DecisionMetrics({ registry, prefix: 'edge_' });
  metrics.recordDecision({
    trigger: 'revocation',
    outcome: 'deny',
    reason: 'revoked',
    durationMs: 0.4,
    source: 'verification',
    serial: 'AB',
  });
  metrics.recordDecision({ trigger: 'interval', outcome: 'allow', reason: 'ok', durationMs: 12, source: 'engine' });
  const text = await registry.metrics();
  t.match(text, /edge_decisions_total\{outcome="deny",source="verification",trigger="revocation"\} 1/);
  t.match(text, /edge_decision_duration_seconds_sum\{outcome="allow",source="engine",trigger="interval"\} 0\.012/);
  t.throws(() => new DecisionMetrics({ registry: {} as never }), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(() => new DecisionMetrics({ prefix: 'bad prefix' }), { code: 'ERR_CTLS_INVALID_OPTION' });
});
