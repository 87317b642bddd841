// authzenPolicy against the real `continuous-tls pdp` process (plain and mTLS), batching, and a
// decision point that is down, slow, failing or answering garbage: always a denial within the timeout.
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { authzenPolicy } from '../dist/policy/http-pdp.js';
import { certs, keyPath } from './helpers/certs';
import { tempDir } from './helpers/policy-files';
import { certInput, tokenInput } from './helpers/policy-input';
import { fakeServer, json, spawnPdp } from './helpers/policy-pdp';

const policies = `@id("alice-get")
permit(principal == User::"alice", action == Action::"GET", resource);
@id("no-risk")
forbid(principal, action, resource) when { context has risk && context.risk > 7 };
`;

t.test('decisions from the pdp process, reused connections', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'authz.cedar'), policies);
  const pdp = await spawnPdp(t, dir);
  const policy = authzenPolicy({ url: pdp.url, timeoutMs: 2_000, headers: pdp.headers });
  t.teardown(() => policy.close());
  t.match(await evaluatePolicy(policy, certInput(certs.clientCert, 'GET', '/x'), { timeoutMs: 2_000 }), {
    allow: true,
    reason: 'cedar: permit alice-get',
    source: 'engine',
  });
  t.match(await evaluatePolicy(policy, certInput(certs.client2Cert, 'GET', '/x'), { timeoutMs: 2_000 }), {
    allow: false,
    reason: 'cedar: no permit',
  });
  t.match(
    await evaluatePolicy(policy, { ...tokenInput({ sub: 'alice' }), context: { risk: 9 } }, { timeoutMs: 2_000 }),
    { allow: false, reason: 'cedar: forbid no-risk' },
  );
  // Metadata endpoint.
  const meta = (await (
    await fetch(`${pdp.url}/.well-known/authzen-configuration`, { headers: pdp.headers })
  ).json()) as Record<string, string>;
  t.equal(meta['access_evaluation_endpoint'], `${pdp.url}/access/v1/evaluation`);
});

t.test('mTLS to the decision point', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'authz.cedar'), policies);
  const pdp = await spawnPdp(t, dir, [
    '--key',
    keyPath('serverKey'),
    '--cert',
    keyPath('serverChain'),
    '--ca',
    keyPath('ca'),
  ]);
  t.match(pdp.url, /^https:\/\/127\.0\.0\.1:/);
  const withCert = authzenPolicy({
    url: pdp.url,
    timeoutMs: 2_000,
    tls: { ca: certs.ca, cert: certs.clientChain, key: certs.clientKey },
  });
  const withoutCert = authzenPolicy({ url: pdp.url, timeoutMs: 2_000, tls: { ca: certs.ca } });
  const wrongCa = authzenPolicy({
    url: pdp.url,
    timeoutMs: 2_000,
    tls: { ca: certs.wrongCa, cert: certs.clientChain, key: certs.clientKey },
  });
  t.teardown(() => Promise.all([withCert.close(), withoutCert.close(), wrongCa.close()]));
  const input = certInput(certs.clientCert, 'GET', '/x');
  t.match(await evaluatePolicy(withCert, input, { timeoutMs: 2_000 }), { allow: true });
  const refused = await evaluatePolicy(withoutCert, input, { timeoutMs: 2_000 });
  t.match(
    refused,
    { allow: false, reason: 'policy-error', error: { code: 'ERR_CTLS_PDP_UNREACHABLE' } },
    'the PDP requires a client certificate',
  );
  t.match(
    await evaluatePolicy(wrongCa, input, { timeoutMs: 2_000 }),
    { allow: false, error: { code: 'ERR_CTLS_PDP_UNREACHABLE' } },
    'the PDP certificate is verified',
  );
});

t.test('batch: one Access Evaluations call for decisions asked together', async (t) => {
  const fake = await fakeServer(t, (path, body, res) => {
    if (path === '/access/v1/evaluations') {
      const items = (body as { evaluations: Array<{ subject: { id: string } }> }).evaluations;
      return json(res, 200, { evaluations: items.map((i) => ({ decision: i.subject.id.startsWith('ok') })) });
    }
    json(res, 200, { decision: (body as { subject: { id: string } }).subject.id.startsWith('ok') });
  });
  const policy = authzenPolicy({ url: fake.url, batch: { maxSize: 8 }, timeoutMs: 2_000 });
  t.teardown(() => policy.close());
  const subjects = ['ok1', 'no1', 'ok2', 'no2', 'ok3', 'ok4', 'no3', 'ok5', 'ok6', 'no4'];
  const decisions = await Promise.all(
    subjects.map((sub) => evaluatePolicy(policy, tokenInput({ sub }), { timeoutMs: 2_000 })),
  );
  t.same(
    decisions.map((d) => d.allow),
    subjects.map((s) => s.startsWith('ok')),
  );
  t.same(
    fake.requests.map((r) => r.path),
    ['/access/v1/evaluations', '/access/v1/evaluations'],
    '8 + 2 in two calls',
  );
  const first = fake.requests[0]!.body as { evaluations: unknown[] };
  t.equal(first.evaluations.length, 8);
  t.match(first.evaluations[0], {
    subject: { type: 'User', id: 'ok1' },
    action: { name: 'GET' },
    resource: { type: 'Resource', id: '/' },
    context: { trigger: 'request' },
  });
  // A lone decision goes to the single endpoint.
  await evaluatePolicy(policy, tokenInput({ sub: 'ok9' }), { timeoutMs: 2_000 });
  t.equal(fake.requests.at(-1)!.path, '/access/v1/evaluation');
});

t.test('a decision point that is down, slow or wrong denies within the timeout', async (t) => {
  const input = tokenInput({ sub: 'alice' });
  const timed = async (url: string, timeoutMs = 150) => {
    const policy = authzenPolicy({ url, timeoutMs: 5_000 });
    const start = Date.now();
    const d = await evaluatePolicy(policy, input, { timeoutMs });
    const took = Date.now() - start;
    await policy.close();
    t.ok(took < timeoutMs + 500, `answered in ${took} ms`);
    return d;
  };

  // Down: a port nobody listens on.
  const spare = net.createServer();
  await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
  const port = (spare.address() as net.AddressInfo).port;
  await new Promise<void>((r) => spare.close(() => r()));
  t.match(
    await timed(`http://127.0.0.1:${port}`),
    { allow: false, reason: 'policy-error', error: { code: 'ERR_CTLS_PDP_UNREACHABLE' } },
    'down',
  );

  const slow = await fakeServer(t, (_p, _b, res) => {
    setTimeout(() => json(res, 200, { decision: true }), 2_000).unref();
  });
  t.match(
    await timed(slow.url),
    { allow: false, reason: 'policy-timeout', error: { code: 'ERR_CTLS_POLICY_TIMEOUT' } },
    'slow',
  );

  const failing = await fakeServer(t, (_p, _b, res) => json(res, 503, { error: 'overloaded' }));
  const d503 = await timed(failing.url);
  t.match(
    d503,
    { allow: false, reason: 'policy-error', error: { code: 'ERR_CTLS_PDP_HTTP', statusCode: 503 } },
    'non-2xx',
  );

  const garbage = await fakeServer(t, (_p, _b, res) => json(res, 200, '<html>not json'));
  t.match(await timed(garbage.url), { allow: false, error: { code: 'ERR_CTLS_PDP_MALFORMED' } }, 'not JSON');

  const wrongShape = await fakeServer(t, (_p, _b, res) => json(res, 200, { decision: 'yes' }));
  t.match(
    await timed(wrongShape.url),
    { allow: false, error: { code: 'ERR_CTLS_PDP_MALFORMED' } },
    'decision not boolean',
  );

  // The adapter's own timeout, shorter than the caller's, is a timeout too.
  const own = authzenPolicy({ url: slow.url, timeoutMs: 50 });
  t.match(await evaluatePolicy(own, input, { timeoutMs: 1_000 }), { allow: false, reason: 'policy-timeout' });
  await own.close();
});

t.test('reasons and obligations from the response context; options checked', async (t) => {
  const fake = await fakeServer(t, (_p, _b, res) =>
    json(res, 200, {
      decision: false,
      context: { reason_admin: { en: 'outside business hours' }, stepUp: { acrValues: 'mfa' } },
    }),
  );
  const policy = authzenPolicy({ url: fake.url, timeoutMs: 2_000 });
  t.teardown(() => policy.close());
  const d = await evaluatePolicy(policy, tokenInput({ sub: 'a' }), { timeoutMs: 2_000 });
  t.match(d, { allow: false, reason: 'outside business hours', obligations: { stepUp: { acrValues: 'mfa' } } });
  t.throws(() => authzenPolicy({ url: 'ftp://x' }), { code: 'ERR_CTLS_INVALID_OPTION', message: /"url"/ });
  t.throws(() => authzenPolicy({ url: 'http://127.0.0.1:1', tls: { ca: 'x' } }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /"tls"/,
  });
  t.throws(() => authzenPolicy({ url: 'http://127.0.0.1:1', timeoutMs: 0 }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /"timeoutMs"/,
  });
});
