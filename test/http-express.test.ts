// Express over node:https with mTLS: allow / 403 problem+json / step-up 401 challenges, unverified
// certificates, a decision point that is down, and cached decisions.
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import express from 'express';
import t, { type Test } from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { DecisionCache } from '../dist/policy/cache.js';
import { authzenPolicy } from '../dist/policy/http-pdp.js';
import type { AuthorizationInput, Decision } from '../dist/common/types.js';
import { client, serverTls } from './helpers/policy-https';
import { certs } from './helpers/certs';

function policy(input: AuthorizationInput) {
  const cn = input.peer.certificate?.subject.replace(/^.*CN=/s, '');
  const path = input.request!.path;
  if (path === '/transfer') {
    return {
      allow: false,
      reason: 'step-up required',
      obligations: { stepUp: { claims: { access_token: { acrs: { essential: true, value: 'c1' } } } } },
    };
  }
  if (path === '/admin')
    return { allow: false, reason: 'mfa required', obligations: { stepUp: { acrValues: ['urn:mfa'], maxAge: 300 } } };
  return { allow: cn === 'alice', reason: cn === 'alice' ? 'alice may' : `${cn ?? 'nobody'} may not` };
}

async function serve(t: Test, authz: ReturnType<typeof authorizeRequest>): Promise<string> {
  const app = express();
  app.use(authz.express());
  app.get('/{*path}', (req, res) => {
    const a = (req as unknown as { authorization: Decision }).authorization;
    res.json({ reason: a.reason, source: a.source, trigger: a.trigger });
  });
  const server = https.createServer(serverTls, app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('allowed requests reach the route with the decision on req.authorization', async (t) => {
  const url = await serve(t, authorizeRequest({ policy }));
  const r = await client(t, url, 'alice')('GET', '/docs?x=1');
  t.equal(r.status, 200);
  t.same(r.json(), { reason: 'alice may', source: 'engine', trigger: 'request' });
});

t.test('denied -> 403 RFC 9457 problem+json, the reason only with exposeReason', async (t) => {
  const url = await serve(t, authorizeRequest({ policy }));
  const r = await client(t, url, 'bob')('GET', '/docs');
  t.equal(r.status, 403);
  t.equal(r.headers['content-type'], 'application/problem+json');
  t.same(r.json(), { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'access denied' });
  const exposed = await client(t, await serve(t, authorizeRequest({ policy, exposeReason: true })), 'bob')('GET', '/');
  t.same(exposed.json(), { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'bob may not' });
});

t.test('step-up obligations -> 401 claims challenge or RFC 9470 challenge', async (t) => {
  const url = await serve(t, authorizeRequest({ policy, exposeReason: true }));
  const get = client(t, url, 'alice');
  const claims = await get('POST', '/transfer');
  t.equal(claims.status, 401);
  const challenge = String(claims.headers['www-authenticate']);
  t.match(
    challenge,
    /^Bearer error="insufficient_claims", error_description="step-up required", claims="([A-Za-z0-9_-]+)"$/,
  );
  const encoded = /claims="([^"]+)"/.exec(challenge)![1]!;
  t.same(JSON.parse(Buffer.from(encoded, 'base64url').toString()), {
    access_token: { acrs: { essential: true, value: 'c1' } },
  });
  t.match(claims.json(), { status: 401, title: 'Unauthorized' });

  const acr = await get('GET', '/admin');
  t.equal(acr.status, 401);
  t.equal(
    acr.headers['www-authenticate'],
    'Bearer error="insufficient_user_authentication", error_description="mfa required", ' +
      'acr_values="urn:mfa", max_age="300"',
  );
  // Without exposeReason, a challenge without its own description says nothing of the reason.
  const quiet = await client(t, await serve(t, authorizeRequest({ policy })), 'alice')('GET', '/admin');
  t.match(String(quiet.headers['www-authenticate']), /error_description="step-up authentication required"/);
  t.match(quiet.json(), { detail: 'step-up authentication required' });
});

t.test('a certificate that did not verify is denied before the policy', async (t) => {
  let asked = 0;
  const url = await serve(
    t,
    authorizeRequest({
      policy: () => {
        asked++;
        return true;
      },
      exposeReason: true,
    }),
  );
  const r = await client(t, url, 'wrongCa')('GET', '/docs');
  t.equal(r.status, 403);
  t.match(r.json(), { detail: /^certificate-unverified: / });
  t.equal(asked, 0);
});

t.test('a decision point that is down denies within the timeout', async (t) => {
  const pdp = authzenPolicy({ url: 'http://127.0.0.1:9', timeoutMs: 2_000 });
  t.teardown(() => pdp.close());
  const url = await serve(t, authorizeRequest({ policy: pdp, timeoutMs: 300, exposeReason: true }));
  const start = Date.now();
  const r = await client(t, url, 'alice')('GET', '/docs');
  t.equal(r.status, 403);
  t.match(r.json(), { detail: 'policy-error' });
  t.ok(Date.now() - start < 2_000);
});

t.test('decisions are cached per identity, action and resource', async (t) => {
  let asked = 0;
  const sources: string[] = [];
  const cache = new DecisionCache();
  // The function reads only the certificate and the path (both always in the key): it says so.
  const counted = Object.assign(
    (i: AuthorizationInput) => {
      asked++;
      return policy(i);
    },
    { factsRead: ['peer.certificate', 'request.path'] },
  );
  const authz = authorizeRequest({ policy: counted, cache, onDecision: (d) => sources.push(d.source) });
  const url = await serve(t, authz);
  const alice = client(t, url, 'alice');
  for (let i = 0; i < 5; i++) t.equal((await alice('GET', '/docs')).status, 200);
  t.equal((await client(t, url, 'bob')('GET', '/docs')).status, 403);
  t.equal((await client(t, url, 'bob')('GET', '/docs')).status, 403);
  t.equal(asked, 2);
  t.same(sources, ['engine', 'cache', 'cache', 'cache', 'cache', 'engine', 'cache']);
  t.equal(authz.cache, cache);
  t.match(cache.stats(), { hits: 5, misses: 2 });
  // A policy that does not declare what it reads gets no default cache (it may read anything).
  t.equal(authorizeRequest({ policy }).cache, undefined);
  t.ok(authorizeRequest({ policy: counted }).cache instanceof DecisionCache);
  t.equal(authorizeRequest({ policy, cache: false }).cache, undefined);
});

t.test('the context hook feeds risk signals; a failing hook fails closed', async (t) => {
  let risk = 1;
  const authz = authorizeRequest({
    policy: (i: AuthorizationInput) => (i.context['risk'] as number) < 5,
    context: async () => ({ risk }),
  });
  const url = await serve(t, authz);
  const get = client(t, url, 'alice');
  t.equal((await get('GET', '/')).status, 200);
  risk = 9;
  t.equal((await get('GET', '/')).status, 403, 'no stale cached allow');
  const failing = await serve(
    t,
    authorizeRequest({
      policy: () => true,
      context: () => {
        throw new Error('risk engine down');
      },
      exposeReason: true,
    }),
  );
  const r = await client(t, failing, 'alice')('GET', '/');
  t.equal(r.status, 403);
  t.match(r.json(), { detail: 'policy-error' });
});

// Node 20's getPeerX509Certificate() removes the leaf from OpenSSL's list of presented certificates,
// so reading the identity that way would cut every later getPeerCertificate(true) short. (Node 24.x /
// 26.8+ do that to themselves at the handshake, nodejs/node#65579: the reference is whatever the
// same server shows without the middleware.)
t.test("authorizing requests leaves node's view of the presented chain intact", async (t) => {
  const serveNames = async (authorize: boolean) => {
    const app = express();
    if (authorize) app.use(authorizeRequest({ policy }).express());
    app.get('/{*path}', (req, res) => {
      const names: string[] = [];
      let current = (req.socket as TLSSocket).getPeerCertificate(true);
      const seen = new Set<string>();
      while (current?.raw && !seen.has(current.fingerprint256)) {
        seen.add(current.fingerprint256);
        names.push(String(current.subject.CN));
        current = current.issuerCertificate;
      }
      res.json({ names, port: req.socket.remotePort });
    });
    const server = https.createServer(serverTls, app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
    // One keep-alive connection (a second one would resume the session, which carries the leaf only).
    const agent = new https.Agent({
      keepAlive: true,
      maxSockets: 1,
      ca: certs.ca,
      cert: certs.clientChain,
      key: certs.clientKey,
    });
    t.teardown(() => agent.destroy());
    return (path: string) =>
      new Promise<{ names: string[]; port: number }>((resolve, reject) => {
        https
          .get(
            { host: '127.0.0.1', port: (server.address() as AddressInfo).port, path, agent, servername: 'localhost' },
            (res) => {
              let body = '';
              res.on('data', (chunk: Buffer) => {
                body += chunk;
              });
              res.on('end', () => resolve(JSON.parse(body) as { names: string[]; port: number }));
            },
          )
          .on('error', reject);
      });
  };
  const reference = await (await serveNames(false))('/reference');
  const get = await serveNames(true);
  const first = await get('/one');
  const second = await get('/two');
  t.equal(second.port, first.port, 'both requests on one connection');
  t.equal(first.names[0], 'alice');
  t.same(first.names, reference.names, `what node shows without the middleware (${reference.names.join(' <- ')})`);
  t.same(second.names, first.names, 'the same on the next request of the connection');
});
