// The pdp endpoint is closed by default (bearer token or mTLS), bounds the work of one request
// (body size, evaluations, context values), converts a batch's shared context once, denies an
// invalid evaluation alone, and answers health checks while a large batch runs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startPdpServer, type PdpServer, type PdpServerOptions } from '../dist/dev/pdp-server.js';
import { tempDir } from './helpers/policy-files';

const TOKEN = 'a-test-token-of-enough-length';
const auth = { authorization: `Bearer ${TOKEN}` };

async function pdp(
  t: Test,
  policies = 'permit(principal, action, resource);',
  options: Partial<PdpServerOptions> = {},
): Promise<PdpServer> {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.cedar'), policies);
  const server = await startPdpServer({ policies: dir, watch: false, tokens: [TOKEN], ...options });
  t.teardown(() => server.close());
  return server;
}

const one = {
  subject: { type: 'User', id: 'alice' },
  action: { name: 'GET' },
  resource: { type: 'Resource', id: '/' },
};

async function post(
  server: PdpServer,
  path: string,
  body: unknown,
  headers: Record<string, string> = auth,
): Promise<{ status: number; type: string | null; body: any }> {
  const res = await fetch(server.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
}

t.test('authentication is required unless explicitly opened', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
  await t.rejects(startPdpServer({ policies: dir, watch: false }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /insecureOpen/,
  });
  await t.rejects(startPdpServer({ policies: dir, watch: false, tokens: ['short'] }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /"tokens"/,
  });
  await t.rejects(startPdpServer({ policies: dir, watch: false, tokens: [] }), { code: 'ERR_CTLS_INVALID_OPTION' });

  const server = await pdp(t);
  const missing = await post(server, '/access/v1/evaluation', one, {});
  t.match(missing, { status: 401, type: 'application/problem+json', body: { status: 401, title: 'unauthorized' } });
  t.notOk(JSON.stringify(missing.body).includes('decision'), 'no decision without a token');
  const res = await fetch(`${server.url}/access/v1/evaluation`, { method: 'POST', body: JSON.stringify(one) });
  t.match(res.headers.get('www-authenticate'), /^Bearer /);
  t.equal(
    (await post(server, '/access/v1/evaluation', one, { authorization: 'Bearer a-test-token-of-enough-lengtH' }))
      .status,
    401,
    'a wrong token',
  );
  t.equal(
    (await post(server, '/access/v1/evaluation', one, { authorization: TOKEN })).status,
    401,
    'not a bearer scheme',
  );
  t.match(await post(server, '/access/v1/evaluation', one), { status: 200, body: { decision: true } });
  t.equal((await fetch(`${server.url}/.well-known/authzen-configuration`)).status, 401, 'metadata too');
  t.match(await (await fetch(`${server.url}/healthz`)).json(), { status: 'ok' }, 'probes need no token');
  t.equal((await fetch(`${server.url}/readyz`)).status, 200);

  const open = await startPdpServer({ policies: dir, watch: false, insecureOpen: true });
  t.teardown(() => open.close());
  t.match(
    await post(open, '/access/v1/evaluation', one, {}),
    { status: 200, body: { decision: true } },
    'insecureOpen serves anyone',
  );
});

t.test('work per request is bounded: body, evaluations, context values and depth', async (t) => {
  const server = await pdp(t, 'permit(principal, action, resource);', {
    limits: { maxBodyBytes: 4096, maxEvaluations: 10, maxContextValues: 50 },
  });
  const big = await post(server, '/access/v1/evaluation', { ...one, context: { pad: 'x'.repeat(5000) } });
  t.match(big, { status: 413, type: 'application/problem+json', body: { title: 'body_too_large' } });
  const many = await post(server, '/access/v1/evaluations', {
    ...one,
    evaluations: Array.from({ length: 11 }, () => ({})),
  });
  t.match(many, { status: 413, body: { title: 'too_many_evaluations' } });
  const wide = await post(server, '/access/v1/evaluation', {
    ...one,
    context: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, i])),
  });
  t.match(wide, { status: 400, body: { code: 'ERR_CTLS_CEDAR_CONTEXT', detail: /more than 50 values/ } });
  let deep: unknown = 1;
  for (let i = 0; i < 20; i++) deep = { d: deep };
  t.match(await post(server, '/access/v1/evaluation', { ...one, context: deep }), {
    status: 400,
    body: { detail: /nesting deeper/ },
  });
  await t.rejects(startPdpServer({ policies: tempDir(t), tokens: [TOKEN], limits: { maxEvaluations: 0 } }), {
    message: /limits\.maxEvaluations/,
  });
});

t.test('a value Cedar cannot hold exactly is a 400 naming it, never a changed request', async (t) => {
  const server = await pdp(
    t,
    `permit(principal, action, resource);
forbid(principal, action, resource) when { context has amount && context.amount > 1000000 };
forbid(principal, action, resource) when { context has revoked && context.revoked != false };`,
  );
  for (const [context, path] of [
    [{ amount: 2000000.5 }, 'context.amount'],
    // A literal past 2^53 on purpose: it reaches the server already rounded, which must be refused.
    // eslint-disable-next-line no-loss-of-precision
    [{ amount: 12345678901234567 }, 'context.amount'],
    [{ revoked: null }, 'context.revoked'],
  ] as const) {
    t.match(
      await post(server, '/access/v1/evaluation', { ...one, context }),
      { status: 400, body: { code: 'ERR_CTLS_CEDAR_CONTEXT', path } },
      JSON.stringify(context),
    );
  }
  t.match(await post(server, '/access/v1/evaluation', { ...one, context: { amount: 2000001 } }), {
    status: 200,
    body: { decision: false },
  });
  const cedarRefused = await post(server, '/access/v1/evaluation', {
    ...one,
    context: { d: { __extn: { fn: 'decimal', arg: 'x' } } },
  });
  t.match(cedarRefused, { status: 400, body: { code: 'ERR_CTLS_CEDAR_CONTEXT' } });
});

t.test('a batch: shared context converted once, an invalid evaluation denied alone', async (t) => {
  const server = await pdp(t, 'permit(principal, action, resource) when { context.n > 0 };');
  let conversions = 0;
  const prepare = server.policy.prepareContext.bind(server.policy);
  server.policy.prepareContext = (...args) => {
    conversions++;
    return prepare(...args);
  };
  const shared = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}`, i]));
  const batch = await post(server, '/access/v1/evaluations', {
    ...one,
    context: { ...shared, n: 1 },
    evaluations: Array.from({ length: 500 }, () => ({})),
  });
  t.equal(batch.status, 200);
  t.equal(batch.body.evaluations.length, 500);
  t.ok(
    batch.body.evaluations.every((e: { decision: boolean }) => e.decision),
    'every evaluation decided',
  );
  t.equal(conversions, 1, 'the shared context was converted once');

  const mixed = await post(server, '/access/v1/evaluations', {
    ...one,
    context: { n: 1 },
    evaluations: [
      {},
      { context: { n: null } },
      7,
      { subject: { type: 'User' } },
      { context: { n: 0 } },
      { resource: { type: 'Resource', id: '/b' } },
    ],
  });
  t.equal(mixed.status, 200);
  t.same(
    mixed.body.evaluations.map((e: { decision: boolean }) => e.decision),
    [true, false, false, false, false, true],
  );
  t.match(mixed.body.evaluations[1], { context: { error: { status: 400, path: 'evaluations[1].context.n' } } });
  t.match(mixed.body.evaluations[2], { context: { error: { status: 400, detail: /must be an object/ } } });
  t.match(mixed.body.evaluations[3], { context: { error: { status: 400, detail: /subject/ } } });
});

t.test('health checks are answered while a large batch runs', async (t) => {
  const server = await pdp(t, 'permit(principal, action, resource) when { context.list.containsAll(context.list) };');
  let evaluated = 0;
  let atHealth = -1;
  let health: Promise<void> | undefined;
  const authorize = server.policy.authorize.bind(server.policy);
  server.policy.authorize = (request) => {
    evaluated++;
    health ??= fetch(`${server.url}/healthz`).then(async (res) => {
      await res.text();
      atHealth = evaluated;
    });
    // A costly policy, simulated: 1000 of these span many of the batch's time slices.
    const until = performance.now() + 0.1;
    while (performance.now() < until);
    return authorize(request);
  };
  const list = Array.from({ length: 300 }, (_, i) => `item-${i}`);
  const batch = await post(server, '/access/v1/evaluations', {
    ...one,
    context: { list },
    evaluations: Array.from({ length: 1000 }, () => ({})),
  });
  await health;
  t.equal(batch.status, 200);
  t.equal(evaluated, 1000);
  t.ok(atHealth > 0 && atHealth < 1000, `the health check was answered after ${atHealth} of 1000 evaluations`);
});
