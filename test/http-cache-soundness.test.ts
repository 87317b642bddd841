// The decision cache never changes an answer: a cached decision is reused only for a request on
// which the policy must answer the same (Host, client address, the whole token), a late policy is a
// timeout with or without the cache, and hostile paths cannot make the cache large.
import tls from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { DecisionCache } from '../dist/policy/cache.js';
import { defaultCacheKey } from '../dist/policy/cache-key.js';
import type { AuthorizationInput, PolicyAdapter } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { client, startHttps } from './helpers/policy-https';
import { makeSigner } from './helpers/policy-jwt';
import { rawHttp } from './helpers/raw-http';
import { certInput } from './helpers/policy-input';

const served = (_req: IncomingMessage, res: ServerResponse) => res.end('served');

/** A raw keep-alive client presenting alice's certificate (it sends the Host header it is given). */
async function rawClient(t: Test, url: string, localAddress = '127.0.0.1') {
  // localAddress reaches net.connect (tls.ConnectionOptions does not list it).
  const socket = tls.connect({
    host: '127.0.0.1',
    port: Number(new URL(url).port),
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    ...{ localAddress },
  });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const send = rawHttp(socket);
  return (method: string, path: string, headers: Record<string, string> = {}) => send(method, path, headers);
}

t.test("a policy that reads Host: one host's allow is not served to another", async (t) => {
  // As an OPA policy or a function over the default input does: it may read any header.
  const policy = (input: AuthorizationInput) => input.request!.headers.host === 'public.test';
  const authz = authorizeRequest({ policy });
  const get = await rawClient(t, await startHttps(t, authz.node(served)));
  t.equal((await get('GET', '/x', { host: 'public.test' })).status, 200);
  t.equal((await get('GET', '/x', { host: 'internal.test' })).status, 403, 'another Host is asked again');
  t.equal((await get('GET', '/x', { host: 'public.test' })).status, 200, 'and a denial does not poison the first');

  // Declared facts: cached, keyed on the header.
  let asked = 0;
  const declared: PolicyAdapter & { factsRead(): string[] } = {
    name: 'host-policy',
    evaluate: (input) => {
      asked++;
      return input.request!.headers.host === 'public.test';
    },
    factsRead: () => ['request.headers.Host'],
  };
  const cachedAuthz = authorizeRequest({ policy: declared });
  const get2 = await rawClient(t, await startHttps(t, cachedAuthz.node(served)));
  for (let i = 0; i < 3; i++) {
    t.equal((await get2('GET', '/x', { host: 'public.test' })).status, 200);
    t.equal((await get2('GET', '/x', { host: 'internal.test' })).status, 403);
  }
  t.equal(asked, 2, 'one decision per host, the rest from the cache');
});

t.test('a policy that reads the client address (as the Cedar context offers it)', async (t) => {
  const declared: PolicyAdapter & { factsRead(): string[] } = {
    evaluate: (input) => input.connection.remoteAddress === '127.0.0.1',
    factsRead: () => ['context.remoteAddress'],
  };
  const authz = authorizeRequest({ policy: declared });
  t.ok(authz.cache, 'cached: the policy said what it reads');
  const url = await startHttps(t, authz.node(served));
  const inside = await rawClient(t, url, '127.0.0.1');
  const outside = await rawClient(t, url, '127.0.0.2');
  t.equal((await inside('GET', '/')).status, 200);
  t.equal((await outside('GET', '/')).status, 403, 'the same certificate from another address is decided again');
  t.equal((await inside('GET', '/')).status, 200);
});

async function serveTokens(t: Test, policy: (input: AuthorizationInput) => boolean, keys: unknown) {
  const authz = authorizeRequest({
    policy: Object.assign(policy, { factsRead: [] as string[] }),
    jwt: { keys: keys as never },
  });
  t.ok(authz.cache, 'cached (the identity, the whole token, is always in the key)');
  return client(t, await startHttps(t, authz.node(served)), 'none');
}

t.test('two issuers, one subject: the key holds the whole claim set', async (t) => {
  const a = await makeSigner('a');
  const b = await makeSigner('b');
  const get = await serveTokens(t, (input) => input.token?.['iss'] === 'https://a.test', {
    keys: [a.publicJwk, b.publicJwk],
  });
  // Same sub, same second (iat, exp): only the issuer differs.
  const fromA = await a.sign({ sub: 'alice' }, { issuer: 'https://a.test' });
  const fromB = await b.sign({ sub: 'alice' }, { issuer: 'https://b.test' });
  t.equal((await get('GET', '/', { authorization: `Bearer ${fromA}` })).status, 200);
  t.equal(
    (await get('GET', '/', { authorization: `Bearer ${fromB}` })).status,
    403,
    "issuer B is not served A's allow",
  );
});

t.test('client-credentials tokens without sub: told apart by their other claims', async (t) => {
  const s = await makeSigner('k');
  const get = await serveTokens(t, (input) => input.token?.['azp'] === 'billing', { keys: [s.publicJwk] });
  const billing = await s.sign({ azp: 'billing', scope: 'invoices' });
  const other = await s.sign({ azp: 'crawler', scope: 'invoices' });
  t.equal((await get('GET', '/', { authorization: `Bearer ${billing}` })).status, 200);
  t.equal((await get('GET', '/', { authorization: `Bearer ${other}` })).status, 403);
});

t.test('a slow synchronous policy is a timeout, with the cache as without', async (t) => {
  const slow = Object.assign(
    () => {
      const until = Date.now() + 300;
      while (Date.now() < until) {
        /* a policy stuck in a synchronous loop */
      }
      return true;
    },
    { factsRead: [] as string[] },
  );
  for (const cache of [new DecisionCache(), false as const]) {
    const authz = authorizeRequest({ policy: slow, cache, timeoutMs: 100, exposeReason: true });
    const get = client(t, await startHttps(t, authz.node(served)), 'alice');
    const r = await get('GET', '/slow');
    t.equal(r.status, 403, `cache ${cache ? 'on' : 'off'}: denied`);
    t.match(r.json(), { detail: 'policy-timeout' });
  }
});

t.test('hostile long paths: keys are hashed and the cache is bounded in bytes', async (t) => {
  const input = certInput(certs.clientCert, 'GET', `/${'a'.repeat(16 * 1024)}`);
  const key = defaultCacheKey(input, [])!;
  t.ok(key.length <= 64, `a 16 KB path gives a ${key.length}-character key`);
  // Whatever the path's length, no key is longer than 512 characters: kept below, hashed above.
  for (const length of [0, 200, 300, 450, 500, 512, 600, 4000]) {
    const k = defaultCacheKey(certInput(certs.clientCert, 'GET', `/${'b'.repeat(length)}`), [])!;
    t.ok(k.length <= 512, `a ${length}-character path gives a ${k.length}-character key`);
    if (length <= 300) t.ok(k.includes('b'.repeat(length)), 'a short key is kept as spelled');
  }

  const cache = new DecisionCache({ maxBytes: 256 * 1024 });
  const long = 'x'.repeat(20_000);
  for (let i = 0; i < 2_000; i++)
    cache.set(`${i}${long}`, { allow: false, reason: 'denied', expiresAt: Infinity, source: 'engine' });
  t.ok(cache.stats().bytes <= 256 * 1024, `bytes held stay under the bound (${cache.stats().bytes})`);

  // Through a server: distinct long paths denied for an anonymous client.
  const policy = Object.assign((i: AuthorizationInput) => i.peer.certificate !== undefined, {
    factsRead: [] as string[],
  });
  const authz = authorizeRequest({ policy });
  const get = client(t, await startHttps(t, authz.node(served)), 'none');
  for (let i = 0; i < 50; i++) t.equal((await get('GET', `/${i}/${'p'.repeat(7_000)}`)).status, 403);
  const stats = authz.cache!.stats();
  t.equal(stats.size, 50);
  t.ok(stats.bytes < 50 * 1024, `50 cached denials of 7 KB paths hold ${stats.bytes} bytes`);
});

t.test('no two inputs spell the same key', async (t) => {
  const a = certInput(certs.clientCert, 'GET', '/a', { action: 'read|write', resource: 'doc' });
  const b = certInput(certs.clientCert, 'GET', '/a', { action: 'read', resource: 'write|doc' });
  t.not(defaultCacheKey(a, []), defaultCacheKey(b, []), 'action and resource are delimited unambiguously');
  const c = certInput(certs.clientCert, 'GET', '/a', { context: { x: 'a|b', y: 'c' } });
  const d = certInput(certs.clientCert, 'GET', '/a', { context: { x: 'a', y: 'b|c' } });
  t.not(defaultCacheKey(c, ['context.x', 'context.y']), defaultCacheKey(d, ['context.x', 'context.y']));
  t.not(
    defaultCacheKey(certInput(certs.clientCert, 'GET', '/a', { context: { x: null } }), ['context.x']),
    defaultCacheKey(certInput(certs.clientCert, 'GET', '/a', { context: {} }), ['context.x']),
    'null and absent differ',
  );
  const deep: Record<string, unknown> = {};
  let at = deep;
  for (let i = 0; i < 100; i++) at = (at['n'] = {}) as Record<string, unknown>;
  t.throws(
    () => defaultCacheKey(certInput(certs.clientCert, 'GET', '/a', { context: deep }), null),
    RangeError,
    'a pathological context fails closed, never a shared key',
  );
});
