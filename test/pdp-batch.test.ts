// Batched AuthZEN calls: one caller's large or invalid request is never the denial of the others.
// Batches are split by count and size, and a refused batch is retried request by request.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { authzenPolicy } from '../dist/policy/http-pdp.js';
import { tokenInput } from './helpers/policy-input';

const LIMIT = 256 * 1024;

interface Call {
  path: string;
  bytes: number;
  count: number;
}

/** A decision point with the pdp's body limit (413 past it) that refuses a whole batch holding a 'poison' subject. */
async function limitedPdp(t: Test): Promise<{ url: string; calls: Call[] }> {
  const calls: Call[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= LIMIT) chunks.push(c);
    });
    req.on('end', () => {
      const reply = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (size > LIMIT) {
        calls.push({ path: req.url!, bytes: size, count: -1 });
        return reply(413, { title: 'body too large' });
      }
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        evaluations?: Array<{ subject: { id: string } }>;
        subject: { id: string };
      };
      const items = body.evaluations ?? [body];
      calls.push({ path: req.url!, bytes: size, count: items.length });
      if (items.some((i) => i.subject.id === 'poison')) return reply(400, { title: 'invalid request' });
      const decide = (i: { subject: { id: string } }) => ({ decision: !i.subject.id.startsWith('no') });
      reply(200, body.evaluations ? { evaluations: items.map(decide) } : decide(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls };
}

t.test('ten requests with 15 KB paths do not push innocent requests past the body limit', async (t) => {
  const pdp = await limitedPdp(t);
  const policy = authzenPolicy({ url: pdp.url, batch: { maxSize: 64 }, timeoutMs: 5_000 });
  t.teardown(() => policy.close());
  const long = '/' + 'x'.repeat(15 * 1024);
  const inputs = [
    ...Array.from({ length: 10 }, (_, i) => tokenInput({ sub: `big${i}` }, 'GET', long)),
    ...Array.from({ length: 5 }, (_, i) => tokenInput({ sub: `small${i}` }, 'GET', '/ok')),
    tokenInput({ sub: 'no-one' }, 'GET', '/ok'),
  ];
  const decisions = await Promise.all(inputs.map((input) => evaluatePolicy(policy, input, { timeoutMs: 5_000 })));
  t.same(
    decisions.map((d) => d.allow),
    [...Array(15).fill(true), false],
    'every request got its own answer',
  );
  t.ok(
    pdp.calls.every((c) => c.count > 0 && c.bytes <= 192 * 1024 + 64),
    `no call past the default maxBytes: ${JSON.stringify(pdp.calls.map((c) => c.bytes))}`,
  );
  t.ok(pdp.calls.length >= 2, 'split into several calls');
});

t.test('a request too big on its own is denied alone', async (t) => {
  const pdp = await limitedPdp(t);
  const policy = authzenPolicy({ url: pdp.url, batch: true, timeoutMs: 5_000 });
  t.teardown(() => policy.close());
  const huge = tokenInput({ sub: 'huge' }, 'GET', '/' + 'y'.repeat(300 * 1024));
  const [big, ...rest] = await Promise.all(
    [huge, tokenInput({ sub: 'a' }), tokenInput({ sub: 'b' }), tokenInput({ sub: 'no' })].map((input) =>
      evaluatePolicy(policy, input, { timeoutMs: 5_000 }),
    ),
  );
  t.match(big, { allow: false, reason: 'policy-error', error: { code: 'ERR_CTLS_PDP_HTTP', statusCode: 413 } });
  t.same(
    rest.map((d) => d!.allow),
    [true, true, false],
  );
  t.match(
    pdp.calls.find((c) => c.count === -1),
    { path: '/access/v1/evaluation' },
    'sent alone to the single endpoint',
  );
});

t.test('a batch refused for one request is retried one by one', async (t) => {
  const pdp = await limitedPdp(t);
  const policy = authzenPolicy({ url: pdp.url, batch: true, timeoutMs: 5_000 });
  t.teardown(() => policy.close());
  const subjects = ['a', 'poison', 'b', 'no'];
  const decisions = await Promise.all(
    subjects.map((sub) => evaluatePolicy(policy, tokenInput({ sub }), { timeoutMs: 5_000 })),
  );
  t.same(
    decisions.map((d) => d.allow),
    [true, false, true, false],
  );
  t.match(decisions[1], { error: { code: 'ERR_CTLS_PDP_HTTP', statusCode: 400 } });
  t.same(pdp.calls.map((c) => c.path).sort(), [
    '/access/v1/evaluation',
    '/access/v1/evaluation',
    '/access/v1/evaluation',
    '/access/v1/evaluation',
    '/access/v1/evaluations',
  ]);
});

t.test('count and size bounds are options; a request that cannot be serialized fails alone', async (t) => {
  const pdp = await limitedPdp(t);
  const policy = authzenPolicy({
    url: pdp.url,
    batch: { maxSize: 3, maxBytes: 1 << 20 },
    timeoutMs: 5_000,
    mapping: { context: (input) => ({ n: input.token?.['n'] }) },
  });
  t.teardown(() => policy.close());
  const decisions = await Promise.all(
    ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((sub, i) =>
      evaluatePolicy(policy, tokenInput({ sub, n: i === 2 ? 1n : i }), { timeoutMs: 5_000 }),
    ),
  );
  t.same(
    decisions.map((d) => d.allow),
    [true, true, false, true, true, true, true],
  );
  t.match(decisions[2], { error: { code: 'ERR_CTLS_PDP_INPUT' } }, 'a bigint cannot be JSON');
  t.ok(pdp.calls.every((c) => c.count <= 3));
  t.throws(() => authzenPolicy({ url: pdp.url, batch: { maxBytes: 0 } }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /batch\.maxBytes/,
  });
  t.throws(() => authzenPolicy({ url: pdp.url, batch: null as never }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /"batch"/,
  });
});
