// Found by an outside review of the pdp endpoint: a fraction too small to survive JSON.parse
// reached Cedar as an integer, set comparisons let one batch take seconds of CPU, and an mTLS
// caller whose certificate expired kept its keep-alive connection.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as https from 'node:https';
import t, { type Test } from 'tap';
import { startPdpServer, type PdpServer, type PdpServerOptions } from '../dist/dev/pdp-server.js';
import { inexactNumber } from '../dist/dev/pdp-request.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { tempDir } from './helpers/policy-files';
import { delay } from './helpers/mtls';

const TOKEN = 'a-test-token-of-enough-length';
const auth = { authorization: `Bearer ${TOKEN}` };

async function pdp(t: Test, policies: string, options: Partial<PdpServerOptions> = {}): Promise<PdpServer> {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.cedar'), policies);
  const server = await startPdpServer({ policies: dir, watch: false, tokens: [TOKEN], ...options });
  t.teardown(() => server.close());
  return server;
}

const request = (context: string): string =>
  '{"subject":{"type":"User","id":"alice"},"action":{"name":"pay"},' +
  `"resource":{"type":"Resource","id":"/"},"context":${context}}`;

t.test('number literals that are not integers as written are refused, however JSON.parse rounds them', async (t) => {
  t.equal(inexactNumber('{"a":1000000.00000000000000000001}'), '1000000.00000000000000000001');
  t.equal(inexactNumber('{"a":1e-400}'), '1e-400', 'a fraction parsed as 0');
  t.equal(
    inexactNumber('{"a":15e-1,"b":2.5}'),
    undefined,
    'fractions that survive parsing are refused later, with their path',
  );
  t.equal(
    inexactNumber('{"a":"1.5","b":1.0,"c":150e-1,"d":-2}'),
    undefined,
    'strings, zero fractions, integral exponents',
  );
  const server = await pdp(
    t,
    'permit(principal, action, resource);\nforbid(principal, action, resource) when { context.amount > 1000000 };',
  );
  const post = (body: string) =>
    fetch(`${server.url}/access/v1/evaluation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body,
    });
  t.equal(
    (await post(request('{"amount":1000000.00000000000000000001}'))).status,
    400,
    'refused, not rounded into an allow',
  );
  t.match(await (await post(request('{"amount":1000001}'))).json(), { decision: false }, 'the forbid itself works');
  t.match(await (await post(request('{"amount":1000000}'))).json(), { decision: true });
});

t.test('one batch cannot take more than its work budget', async (t) => {
  const server = await pdp(t, 'permit(principal, action, resource) when { context.a.containsAll(context.b) };', {
    limits: { maxWorkMs: 200 },
  });
  const values = Array.from({ length: 1500 }, (_, i) => ({ __extn: { fn: 'ip', arg: `10.0.${i >> 8}.${i & 255}` } }));
  const body = {
    subject: { type: 'User', id: 'alice' },
    action: { name: 'pay' },
    resource: { type: 'Resource', id: '/' },
    context: { a: values, b: [...values].reverse() },
    evaluations: Array.from({ length: 400 }, () => ({})),
  };
  const started = Date.now();
  const res = await fetch(`${server.url}/access/v1/evaluations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as {
    evaluations: Array<{ decision: boolean; context?: { error?: { title?: string } } }>;
  };
  t.equal(res.status, 200);
  const skipped = answer.evaluations.filter((e) => e.context?.error?.title === 'work_budget_exceeded');
  t.ok(skipped.length > 0, `${skipped.length} evaluations past the budget were denied without running`);
  t.ok(skipped.every((e) => e.decision === false));
  t.ok(Date.now() - started < 10_000, `answered in ${Date.now() - started} ms`);
});

t.test('an mTLS caller is cut when its certificate expires, keep-alive or not', async (t) => {
  const ca = await DevelopmentCA.create();
  const [serverId, caller] = await Promise.all([
    ca.issueServer({ commonName: 'localhost' }),
    ca.issueClient({ commonName: 'caller', validityMs: 2_500 }),
  ]);
  const server = await pdp(t, 'permit(principal, action, resource);', {
    tokens: undefined,
    tls: { key: serverId.key, cert: serverId.chain, ca: ca.rootCert },
  });
  const agent = new https.Agent({
    keepAlive: true,
    ca: ca.rootCert,
    key: caller.key,
    cert: caller.chain,
    maxSockets: 1,
  });
  t.teardown(() => agent.destroy());
  const ask = () =>
    new Promise<number>((resolve) => {
      const req = https.request(
        `${server.url}/access/v1/evaluation`,
        { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(-1));
      req.end(request('{}'));
    });
  t.equal(await ask(), 200, 'served while the certificate is valid');
  const notAfter = caller.notAfter.getTime();
  await delay(Math.max(0, notAfter - Date.now()) + 500);
  t.not(await ask(), 200, 'not served after it expired, on the same pool');
});
