// opaPolicy: OPA Data API request shape and every answer form, failing closed on the rest.
import t from 'tap';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { opaPolicy } from '../dist/policy/http-pdp.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';
import { fakeServer, json } from './helpers/policy-pdp';

t.test('POST /v1/data/<path> with {input}; boolean and object results', async (t) => {
  let answer: unknown = { result: true };
  const opa = await fakeServer(t, (_p, _b, res) => json(res, 200, answer));
  const policy = opaPolicy({ url: opa.url + '/', path: 'httpapi/authz/allow', timeoutMs: 2_000 });
  t.teardown(() => policy.close());
  const input = certInput(certs.clientCert, 'DELETE', '/orders/7');
  input.request!.headers = { authorization: 'Bearer secret', 'x-trace': 'abc' };
  input.token = { sub: 'alice', exp: 1 };

  t.match(await evaluatePolicy(policy, input, { timeoutMs: 2_000 }), {
    allow: true,
    reason: 'opa: httpapi/authz/allow allow',
  });
  const sent = opa.requests[0]!;
  t.equal(sent.path, '/v1/data/httpapi/authz/allow');
  t.match(sent.body, {
    input: {
      trigger: 'request',
      subject: 'alice',
      action: 'DELETE',
      resource: '/orders/7',
      peer: { verified: true, certificate: { subject: 'alice' } },
      request: { method: 'DELETE', path: '/orders/7', headers: { 'x-trace': 'abc' } },
      token: { sub: 'alice' },
    },
  });
  t.notOk(
    'authorization' in (sent.body as { input: { request: { headers: object } } }).input.request.headers,
    'credentials are not forwarded',
  );

  answer = { result: { allow: false, reason: 'order is locked' } };
  t.match(await evaluatePolicy(policy, input, { timeoutMs: 2_000 }), { allow: false, reason: 'order is locked' });
  answer = { result: { allow: true, ttlMs: 1_000 } };
  const ttl = await evaluatePolicy(policy, input, { timeoutMs: 2_000 });
  t.ok(ttl.allow && ttl.expiresAt <= Date.now() + 1_000);
});

t.test('undefined rules and odd results fail closed', async (t) => {
  let answer: unknown = {};
  const opa = await fakeServer(t, (_p, _b, res) => json(res, 200, answer));
  const policy = opaPolicy({ url: opa.url, timeoutMs: 2_000 });
  t.teardown(() => policy.close());
  const input = certInput(certs.clientCert);
  t.match(await evaluatePolicy(policy, input, { timeoutMs: 2_000 }), {
    allow: false,
    error: { code: 'ERR_CTLS_PDP_MALFORMED', message: /undefined/ },
  });
  answer = { result: 'yes' };
  t.match(await evaluatePolicy(policy, input, { timeoutMs: 2_000 }), {
    allow: false,
    error: { code: 'ERR_CTLS_PDP_MALFORMED' },
  });
  t.equal(opa.requests[0]!.path, '/v1/data/authz/allow', 'default path');
  t.throws(() => opaPolicy({ url: opa.url, path: '../etc' }), { code: 'ERR_CTLS_INVALID_OPTION' });
});
