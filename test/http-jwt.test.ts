// Bearer JWTs in the REST middleware (node:https wrapper): missing, expired, badly signed, wrong
// issuer or without exp -> 401 invalid_token; valid -> claims reach the policy; JWKS URL.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { client, startHttps } from './helpers/policy-https';
import { makeSigner } from './helpers/policy-jwt';

const policy = (input: AuthorizationInput) =>
  input.token?.['role'] === 'reader' || input.peer.certificate !== undefined;

t.test('token failures answer 401 with a Bearer invalid_token challenge', async (t) => {
  const signer = await makeSigner();
  const other = await makeSigner();
  const authz = authorizeRequest({
    policy,
    jwt: { keys: signer.publicJwk, issuer: 'https://issuer.test', audience: 'api' },
    realm: 'api',
  });
  const url = await startHttps(
    t,
    authz.node((req, res) => {
      const a = (req as unknown as { authorization: { input: AuthorizationInput } }).authorization;
      res.end(`hello ${String(a.input.token?.['sub'])}`);
    }),
  );
  const get = client(t, url, 'none');
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['missing', {}, /missing bearer token/],
    ['other scheme', { authorization: 'Basic YTpi' }, /missing bearer token/],
    [
      'expired',
      bearer(await signer.sign({ sub: 'u', role: 'reader' }, { expiresIn: Math.floor(Date.now() / 1000) - 60 })),
      /token expired/,
    ],
    ['bad signature', bearer(await other.sign({ sub: 'u', role: 'reader' })), /signature verification failed/],
    ['wrong issuer', bearer(await signer.sign({ sub: 'u', role: 'reader' }, { issuer: 'https://evil.test' })), /iss/],
    ['no exp', bearer(await signer.sign({ sub: 'u', role: 'reader' }, { noExp: true })), /exp/],
    ['garbage', bearer('not.a.jwt'), /malformed token/],
  ];
  for (const [label, headers, description] of cases) {
    const r = await get('GET', '/docs', headers);
    t.equal(r.status, 401, label);
    const challenge = String(r.headers['www-authenticate']);
    t.match(challenge, /^Bearer realm="api", error="invalid_token", error_description="[^"]*"$/, `${label}: challenge`);
    t.match(challenge, description, `${label}: description`);
    t.equal(r.headers['content-type'], 'application/problem+json');
    t.match(r.json(), { type: 'about:blank', title: 'Unauthorized', status: 401, detail: description });
  }

  const ok = await get('GET', '/docs', bearer(await signer.sign({ sub: 'carol', role: 'reader' })));
  t.equal(ok.status, 200);
  t.equal(ok.body, 'hello carol');
  const denied = await get('GET', '/docs', bearer(await signer.sign({ sub: 'dave', role: 'guest' })));
  t.equal(denied.status, 403, 'a valid token the policy refuses is a 403');
});

t.test('keys from a JWKS URL; an unreachable JWKS is a 503, never an allow', async (t) => {
  const signer = await makeSigner('rotating');
  let up = true;
  const jwks = http.createServer((_req, res) => {
    if (!up) return void res.writeHead(500).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [signer.publicJwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => jwks.close(() => r())));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;

  const authz = authorizeRequest({ policy, jwt: { jwksUrl, cacheSize: 0 } });
  const url = await startHttps(
    t,
    authz.node((_req, res) => res.end('ok')),
  );
  const get = client(t, url, 'none');
  t.equal(
    (await get('GET', '/', { authorization: `Bearer ${await signer.sign({ sub: 'u', role: 'reader' })}` })).status,
    200,
  );

  // A key set that cannot be fetched (new verifier, JWKS down).
  up = false;
  const authz2 = authorizeRequest({ policy, jwt: { jwksUrl } });
  const url2 = await startHttps(
    t,
    authz2.node((_req, res) => res.end('ok')),
  );
  const r = await client(t, url2, 'none')('GET', '/', {
    authorization: `Bearer ${await signer.sign({ sub: 'u', role: 'reader' })}`,
  });
  t.equal(r.status, 503);
  t.equal(r.headers['content-type'], 'application/problem+json');
});

t.test('optional tokens: the certificate alone may be enough; shared secrets', async (t) => {
  const authz = authorizeRequest({ policy, jwt: { keys: 'a-shared-secret-of-enough-length-000', required: false } });
  const url = await startHttps(
    t,
    authz.node((_req, res) => res.end('ok')),
  );
  t.equal((await client(t, url, 'alice')('GET', '/')).status, 200, 'client certificate, no token');
  t.equal((await client(t, url, 'none')('GET', '/')).status, 403, 'neither: the policy denies');
  const { SignJWT } = await import('jose');
  const hs = await new SignJWT({ sub: 'u', role: 'reader' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1m')
    .sign(new TextEncoder().encode('a-shared-secret-of-enough-length-000'));
  t.equal((await client(t, url, 'none')('GET', '/', { authorization: `Bearer ${hs}` })).status, 200, 'HS256 token');
  t.equal(
    (await client(t, url, 'none')('GET', '/', { authorization: 'Bearer x.y.z' })).status,
    401,
    'a bad token is refused even when optional',
  );
});

t.test('option checks', async (t) => {
  t.throws(() => authorizeRequest({ policy, jwt: {} }), { code: 'ERR_CTLS_INVALID_OPTION', message: /jwt\.keys/ });
  t.throws(() => authorizeRequest({ policy: 5 as never }), { code: 'ERR_CTLS_INVALID_OPTION', message: /"policy"/ });
  t.throws(() => authorizeRequest({ policy, cache: {} as never }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /"cache"/,
  });
});
