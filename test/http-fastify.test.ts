// Fastify over node:https with mTLS: the plugin's hook covers every route (also those in
// encapsulated child plugins), request.authorization is set, denials answer problem+json / 401.
import Fastify from 'fastify';
import t from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { client } from './helpers/policy-https';
import { makeSigner } from './helpers/policy-jwt';

t.test('fastify app with mTLS and an optional bearer token', async (t) => {
  const signer = await makeSigner();
  const authz = authorizeRequest({
    jwt: { keys: signer.publicJwk, required: false },
    policy: (input: AuthorizationInput) => {
      if (input.request!.path.startsWith('/admin')) return input.token?.['role'] === 'admin';
      return input.peer.certificate?.subject.includes('CN=alice') === true;
    },
  });
  const app = Fastify({
    https: {
      key: certs.serverKey,
      cert: certs.serverChain,
      ca: certs.ca,
      requestCert: true,
      rejectUnauthorized: false,
    },
  });
  await app.register(authz.fastify);
  app.get('/docs', async (request) => ({
    reason: (request as unknown as { authorization: { reason: string } }).authorization.reason,
  }));
  // Routes in an encapsulated child plugin are covered too (the plugin skips encapsulation).
  await app.register(async (child) => {
    child.get('/admin/users', async () => ({ users: [] }));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const url = `https://127.0.0.1:${(app.server.address() as { port: number }).port}`;

  const alice = client(t, url, 'alice');
  const docs = await alice('GET', '/docs');
  t.equal(docs.status, 200);
  t.same(docs.json(), { reason: 'allowed' });

  const bob = await client(t, url, 'bob')('GET', '/docs');
  t.equal(bob.status, 403);
  t.equal(bob.headers['content-type'], 'application/problem+json');
  t.same(bob.json(), { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'access denied' });

  t.equal((await alice('GET', '/admin/users')).status, 403, 'child plugin route is guarded');
  const admin = await alice('GET', '/admin/users', {
    authorization: `Bearer ${await signer.sign({ sub: 'root', role: 'admin' })}`,
  });
  t.equal(admin.status, 200);
  const expiredToken = await signer.sign(
    { sub: 'root', role: 'admin' },
    { expiresIn: Math.floor(Date.now() / 1000) - 5 },
  );
  const expired = await alice('GET', '/admin/users', { authorization: `Bearer ${expiredToken}` });
  t.equal(expired.status, 401);
  t.match(String(expired.headers['www-authenticate']), /error="invalid_token", error_description="token expired"/);
  t.equal((await alice('GET', '/nowhere')).status, 404);
  t.equal(
    (await client(t, url, 'bob')('GET', '/nowhere')).status,
    403,
    'unknown routes are decided first too: no route probing',
  );
});
