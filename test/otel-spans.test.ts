// OpenTelemetry spans when the application has @opentelemetry/api: one around every policy
// evaluation (both tiers and authorizeRequest) and one around every fresh re-authentication, with
// documented attributes and nothing secret. The API alone has no SDK, so this test registers its own
// minimal TracerProvider. A tracer or span that throws never changes a decision.
import t from 'tap';
import { trace } from '@opentelemetry/api';
import { authorizeRequest, evaluatePolicy, reauthorize, type AuthorizationInput } from '../dist/index.js';
import { connectPair, makePki, mtlsOptions, startServer } from './helpers/mtls';
import { client, startHttps } from './helpers/policy-https';

interface RecordedSpan {
  name: string;
  attributes: Record<string, unknown>;
  status?: { code: number; message?: string };
  ended: boolean;
}

/** What the stub tracer does: record spans, or throw from one of its methods. */
let mode: 'record' | 'throw-on-start' | 'throw-on-end' = 'record';
const spans: RecordedSpan[] = [];

class StubSpan {
  constructor(readonly record: RecordedSpan) {}
  setAttributes(attributes: Record<string, unknown>): this {
    if (mode === 'throw-on-end') throw new Error('broken span');
    Object.assign(this.record.attributes, attributes);
    return this;
  }
  setStatus(status: { code: number; message?: string }): this {
    this.record.status = status;
    return this;
  }
  isRecording(): boolean {
    return true;
  }
  end(): void {
    if (mode === 'throw-on-end') throw new Error('broken span');
    this.record.ended = true;
  }
}

const provider = {
  getTracer: () => ({
    startSpan(name: string, options: { attributes?: Record<string, unknown> } = {}) {
      if (mode === 'throw-on-start') throw new Error('broken tracer');
      const record: RecordedSpan = { name, attributes: { ...options.attributes }, ended: false };
      spans.push(record);
      return new StubSpan(record);
    },
  }),
};
trace.setGlobalTracerProvider(provider as unknown as Parameters<typeof trace.setGlobalTracerProvider>[0]);
t.teardown(() => trace.disable());
t.beforeEach(() => {
  mode = 'record';
  spans.length = 0;
});

const KEYS = ['continuous_tls.outcome', 'continuous_tls.policy', 'continuous_tls.reason', 'continuous_tls.source'];

t.test('owned tier: a span per policy evaluation and per fresh re-authentication', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      policy: function allowAlice(input) {
        return input.peer.certificate?.subject.includes('CN=alice') === true;
      },
    }),
  );
  const { socket } = await connectPair(t, server, port, pki);
  await reauthorize(socket, { fresh: true });
  t.same(
    spans.map((s) => s.name),
    ['continuous-tls.policy', 'continuous-tls.reauthenticate', 'continuous-tls.policy'],
  );
  t.ok(
    spans.every((s) => s.ended),
    'every span ended',
  );
  t.same(spans[0]!.attributes, {
    'continuous_tls.policy': 'allowAlice',
    'continuous_tls.trigger': 'handshake',
    'continuous_tls.tier': 'owned',
    'continuous_tls.outcome': 'allow',
    'continuous_tls.source': 'engine',
    'continuous_tls.reason': 'allowed',
  });
  t.same(spans[1]!.attributes, {
    'continuous_tls.tier': 'owned',
    'continuous_tls.trigger': 'manual',
    'continuous_tls.outcome': 'answered',
  });
  t.equal(spans[1]!.status, undefined);
  t.match(spans[2]!.attributes, { 'continuous_tls.trigger': 'manual', 'continuous_tls.outcome': 'allow' });
});

t.test('a re-authentication that fails ends its span with an error status', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const { socket, client: peer } = await connectPair(t, server, port, pki);
  peer.transport.pause();
  const decision = await reauthorize(socket, { fresh: true, timeout: 200, destroyOnDeny: false });
  t.equal(decision.allow, false);
  const span = spans.find((s) => s.name === 'continuous-tls.reauthenticate')!;
  t.match(span, { ended: true, status: { code: 2 }, attributes: { 'continuous_tls.outcome': 'failed' } });
  t.type(span.attributes['error.type'], 'string');
});

t.test('authorizeRequest: the span says request, and a failing policy marks it', async (t) => {
  const guard = authorizeRequest({
    policy: function byPath(input: AuthorizationInput) {
      if (input.request?.path === '/boom') throw new Error('policy bug');
      return input.request?.path !== '/admin';
    },
  });
  const url = await startHttps(
    t,
    guard.node((_req, res) => res.end('ok')),
  );
  const alice = client(t, url, 'alice');
  t.equal((await alice('GET', '/items', { authorization: 'Bearer secret-token' })).status, 200);
  t.equal((await alice('GET', '/admin')).status, 403);
  t.equal((await alice('GET', '/boom')).status, 403);
  t.same(
    spans.map((s) => [s.attributes['continuous_tls.tier'], s.attributes['continuous_tls.outcome']]),
    [
      ['request', 'allow'],
      ['request', 'deny'],
      ['request', 'deny'],
    ],
  );
  t.match(spans[2], {
    status: { code: 2, message: /policy bug/ },
    attributes: { 'continuous_tls.reason': 'policy-error' },
  });
  for (const span of spans) {
    t.same(Object.keys(span.attributes).sort(), [...KEYS, 'continuous_tls.tier', 'continuous_tls.trigger'].sort());
    t.notMatch(JSON.stringify(span), /secret-token/, 'no token in any attribute');
  }
});

t.test('evaluatePolicy alone: a timeout is a denial in the span too', async (t) => {
  const input = {
    trigger: 'request',
    peer: { chain: [], verified: false },
    connection: { ageMs: 0, reauthCount: 0 },
    request: { method: 'GET', path: '/', headers: {} },
    context: {},
  } as AuthorizationInput;
  const d = await evaluatePolicy(() => new Promise<boolean>(() => {}), input, { policyTimeout: 20 });
  t.equal(d.reason, 'policy-timeout');
  t.match(spans, [
    {
      name: 'continuous-tls.policy',
      ended: true,
      attributes: { 'continuous_tls.reason': 'policy-timeout', 'continuous_tls.policy': 'anonymous' },
      status: { code: 2 },
    },
  ]);
});

for (const broken of ['throw-on-start', 'throw-on-end'] as const) {
  t.test(`a tracer that throws (${broken}) changes no decision`, async (t) => {
    mode = broken;
    const pki = await makePki();
    let allow = true;
    const { server, port } = await startServer(t, mtlsOptions(pki, { policy: () => allow }));
    const { socket } = await connectPair(t, server, port, pki);
    t.equal((await reauthorize(socket, { fresh: true })).allow, true, 'allow stays allow');
    allow = false;
    t.equal((await reauthorize(socket, { destroyOnDeny: false })).allow, false, 'deny stays deny');

    const guard = authorizeRequest({
      policy: (input: AuthorizationInput) => {
        if (input.request?.path === '/boom') throw new Error('policy bug');
        return true;
      },
    });
    const url = await startHttps(
      t,
      guard.node((_req, res) => res.end('ok')),
    );
    const alice = client(t, url, 'alice');
    t.equal((await alice('GET', '/ok')).status, 200, 'an allowed request still runs its handler');
    t.equal((await alice('GET', '/boom')).status, 403, 'a failing policy still fails closed');
    t.ok(
      spans.every((s) => !s.ended),
      'no span completed',
    );
  });
}
