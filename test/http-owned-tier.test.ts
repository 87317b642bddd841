// The REST middleware over the owned TLS tier: the addon terminates TLS and hands each TLSSocket to
// an Express app and to a Fastify app; identity, denials and tokens work as over node:https.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import t, { type Test } from 'tap';
import { createServer } from '../dist/index.js';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import type { AuthorizationInput, Decision } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { client } from './helpers/policy-https';
import { makeSigner } from './helpers/policy-jwt';

const tlsOptions = {
  key: certs.serverKey,
  cert: certs.serverChain,
  ca: certs.ca,
  requestCert: true,
  rejectUnauthorized: false,
};

function policy(input: AuthorizationInput) {
  if (input.request!.path === '/step-up')
    return {
      allow: false,
      reason: 'fresh login needed',
      obligations: { stepUp: { claims: '{"id_token":{"auth_time":{"essential":true}}}' } },
    };
  const cn = input.peer.certificate?.subject.replace(/^.*CN=/s, '');
  return { allow: cn === 'alice' || input.token?.['role'] === 'admin', reason: `cn=${cn ?? '-'}` };
}

/** Serves `httpServer` over the addon's TLS: each owned TLSSocket goes to the HTTP server. */
async function ownedTier(t: Test, httpServer: http.Server): Promise<string> {
  const server = createServer(tlsOptions, (socket) => httpServer.emit('connection', socket));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        httpServer.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function exercise(t: Test, url: string) {
  const signer = await makeSigner();
  const alice = client(t, url, 'alice');
  const ok = await alice('GET', '/docs');
  t.equal(ok.status, 200);
  t.same(ok.json(), { reason: 'cn=alice' });
  const bob = client(t, url, 'bob');
  const denied = await bob('GET', '/docs');
  t.equal(denied.status, 403);
  t.same(denied.json(), { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'cn=bob' });
  const admin = await bob('GET', '/docs', {
    authorization: `Bearer ${await signer.sign({ sub: 'b', role: 'admin' })}`,
  });
  t.equal(admin.status, 401, 'a token from an unknown key is refused');
  const stepUp = await alice('GET', '/step-up');
  t.equal(stepUp.status, 401);
  t.match(String(stepUp.headers['www-authenticate']), /error="insufficient_claims".*claims="eyJ/);
  return signer;
}

t.test('Express over the owned tier', async (t) => {
  const signer = await makeSigner();
  const authz = authorizeRequest({
    policy,
    jwt: { keys: { keys: [signer.publicJwk] }, required: false },
    exposeReason: true,
  });
  const app = express();
  app.use(authz.express());
  app.get('/{*path}', (req, res) => {
    res.json({ reason: (req as unknown as { authorization: Decision }).authorization.reason });
  });
  const url = await ownedTier(t, http.createServer(app));
  await exercise(t, url);
  const admin = await client(t, url, 'bob')('GET', '/docs', {
    authorization: `Bearer ${await signer.sign({ sub: 'b', role: 'admin' })}`,
  });
  t.equal(admin.status, 200, 'a valid admin token over a certificate the policy would refuse');
});

t.test('Fastify over the owned tier', async (t) => {
  const authz = authorizeRequest({
    policy,
    jwt: { keys: (await makeSigner()).publicJwk, required: false },
    exposeReason: true,
  });
  let httpServer!: http.Server;
  const app = Fastify({ serverFactory: (handler) => (httpServer = http.createServer(handler)) });
  await app.register(authz.fastify);
  app.get('/*', async (request) => ({
    reason: (request as unknown as { authorization: Decision }).authorization.reason,
  }));
  await app.ready();
  t.teardown(() => app.close());
  await exercise(t, await ownedTier(t, httpServer));
});
