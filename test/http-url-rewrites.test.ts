// URL rewrites before routing: Express routes `req.url` as middleware before the authorizer left it,
// Fastify routes `req.url` after `rewriteUrl`; both keep the client's URL in `req.originalUrl`, which
// no router reads. The policy must judge the path that is routed, or an alias of a forbidden path
// runs its handler.
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { serveRaw } from './helpers/serve-raw';

/** Forbids everything under /api/admin and records the paths it judged. */
function forbiddingAdmin() {
  const seen: string[] = [];
  const policy = (input: AuthorizationInput) => {
    seen.push(input.request!.path);
    return !input.request!.path.startsWith('/api/admin');
  };
  return { authz: authorizeRequest({ policy }), seen };
}

const toApi = (url: string) => url.replace(/^\/v1\//, '/api/');

async function fastifyClient(t: Test, app: FastifyInstance) {
  t.teardown(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  return serveRaw(t, app.server);
}

t.test('Express: a middleware that rewrites req.url before the authorizer', async (t) => {
  const { authz, seen } = forbiddingAdmin();
  const app = express();
  app.use((req, _res, next) => {
    req.url = toApi(req.url);
    next();
  });
  app.use(authz.express());
  app.get('/api/admin', (_req, res) => void res.send('ADMIN'));
  app.get('/api/orders', (_req, res) => void res.send('ORDERS'));
  const get = await serveRaw(t, app);

  const alias = await get('/v1/admin');
  t.equal(alias.status, 403, 'the alias of a forbidden path is refused');
  t.notMatch(alias.body, /ADMIN/);
  t.equal((await get('/v1/admin?x=1')).status, 403, 'with a query string');
  t.equal((await get('/V1/Admin')).status, 404, 'the rewrite is case-sensitive: not aliased, no route, not run');
  t.equal((await get('/api/admin')).status, 403);
  t.equal((await get('http://evil/api/admin')).status, 403, 'absolute-form');
  const orders = await get('/v1/orders?x=1');
  t.equal(orders.status, 200);
  t.equal(orders.body, 'ORDERS');
  t.same(seen, ['/api/admin', '/api/admin', '/v1/admin', '/api/admin', '/api/admin', '/api/orders']);
});

t.test('Express: a rewrite inside a mounted router, and the mount path kept in front', async (t) => {
  const { authz, seen } = forbiddingAdmin();
  const app = express();
  const router = express.Router();
  router.use((req, _res, next) => {
    req.url = req.url.replace(/^\/legacy-admin\b/, '/admin');
    next();
  });
  router.use(authz.express());
  router.get('/admin', (_req, res) => void res.send('ADMIN'));
  router.get('/orders', (_req, res) => void res.send('ORDERS'));
  app.use('/api', router);
  const get = await serveRaw(t, app);

  t.equal((await get('/api/legacy-admin')).status, 403);
  t.equal((await get('/API/legacy-admin?x')).status, 403, 'mount path case-folded, query dropped');
  t.equal((await get('http://evil/api/admin')).status, 403, 'absolute-form');
  t.equal((await get('/api/orders')).status, 200);
  t.same(seen, ['/api/admin', '/api/admin', '/api/admin', '/api/orders']);
});

t.test('authorize() on an Express request judges the mount path and the rewritten rest', async (t) => {
  const { authz, seen } = forbiddingAdmin();
  const app = express();
  const router = express.Router();
  router.use((req, _res, next) => {
    req.url = req.url.replace(/^\/legacy-admin\b/, '/admin');
    next();
  });
  router.use((req, res, next) => {
    authz.authorize(req).then((outcome) => (outcome.allowed ? next() : void res.status(outcome.status).end()), next);
  });
  router.get('/admin', (_req, res) => void res.send('ADMIN'));
  app.use('/api', router);
  const get = await serveRaw(t, app);
  t.equal((await get('/api/legacy-admin?x=1')).status, 403);
  t.equal((await get('http://evil/api/admin')).status, 403, 'absolute-form');
  t.same(seen, ['/api/admin', '/api/admin']);
});

t.test('Fastify: rewriteUrl aliases /v1/* to /api/*', async (t) => {
  const { authz, seen } = forbiddingAdmin();
  const app = Fastify({ rewriteUrl: (req) => toApi(req.url ?? '/') });
  await app.register(authz.fastify);
  app.get('/api/admin', async () => 'ADMIN');
  app.get('/api/orders', async () => 'ORDERS');
  const get = await fastifyClient(t, app);

  const alias = await get('/v1/admin');
  t.equal(alias.status, 403, 'the alias of a forbidden path is refused');
  t.notMatch(alias.body, /ADMIN/);
  t.equal((await get('/v1/admin?x=1')).status, 403, 'with a query string');
  t.equal((await get('/api/admin')).status, 403);
  t.equal((await get('http://evil/api/admin')).status, 403, 'absolute-form');
  t.equal((await get('/v1/orders?x=1')).body, 'ORDERS');
  t.same(seen, ['/api/admin', '/api/admin', '/api/admin', '/api/admin', '/api/orders']);
});

t.test('Fastify: rewriteUrl with a prefix decides the rewritten path', async (t) => {
  const { authz, seen } = forbiddingAdmin();
  const app = Fastify({ rewriteUrl: (req) => toApi(req.url ?? '/') });
  await app.register(authz.fastify, { prefix: '/api' });
  app.get('/api/admin', async () => 'ADMIN');
  app.get('/v2/admin', async () => 'V2');
  const get = await fastifyClient(t, app);
  t.equal((await get('/v1/admin')).status, 403, 'the alias lands under the prefix: decided');
  t.equal((await get('/v2/admin')).body, 'V2', 'not under the prefix: not decided');
  t.same(seen, ['/api/admin']);
});

t.test('node(): the handler routes req.url, and so does the policy', async (t) => {
  const { authz, seen } = forbiddingAdmin();
  const get = await serveRaw(
    t,
    authz.node((_req, res) => void res.end('OK')),
  );
  t.equal((await get('/api/admin?x=1')).status, 403);
  t.equal((await get('http://evil/api/admin')).status, 403, 'absolute-form');
  t.equal((await get('/api/orders')).status, 200);
  t.same(seen, ['/api/admin', '/api/admin', '/api/orders']);
});
