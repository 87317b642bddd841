// Express middleware mounted on an express.Router(): the resource is the whole path, read with the
// rules of the routers that route it (the app's for the mount path, the router's for the rest), so
// no spelling of a forbidden path runs its handler, whatever the app's and the router's settings.
import express from 'express';
import t from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { serveRaw } from './helpers/serve-raw';

/** A policy that forbids one path and records every path it is asked about. */
function forbidding(path: string) {
  const seen: string[] = [];
  const policy = (input: AuthorizationInput) => {
    seen.push(input.request!.path);
    return input.request!.path !== path;
  };
  return { policy, seen };
}

const SPELLINGS = [
  '/api/admin',
  '/api/ADMIN',
  '/api/Admin/',
  '/API/admin',
  'http://evil/api/admin',
  '/api/admin?x',
  '/api/admin#x',
  '/api/%41dmin',
  '/api/admin%2F',
  '/api//admin',
  '/api/x/../admin',
];

t.test('a default router under a case-sensitive, strict app: its own (default) rules apply', async (t) => {
  const { policy, seen } = forbidding('/api/admin');
  const app = express();
  // express.Router() does not inherit these: it still routes /api/ADMIN/ to its /admin handler.
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  const router = express.Router();
  const ran: string[] = [];
  router.use(authorizeRequest({ policy }).express());
  router.get('/admin', (req, res) => {
    ran.push(req.originalUrl);
    res.send('admin');
  });
  router.get('/{*rest}', (_req, res) => {
    res.send('other');
  });
  app.use('/api', router);
  const get = await serveRaw(t, app);
  for (const target of [...SPELLINGS, '/api/ADMIN/']) {
    const r = await get(target);
    t.not(r.body, 'admin', `GET ${target}: ${r.status}`);
  }
  t.same(ran, [], 'the admin handler never ran');
  seen.length = 0;
  t.equal((await get('/api/Orders/')).body, 'other');
  t.same(seen, ['/api/orders'], 'the whole path, folded and without the slash as the router matches it');
});

t.test('a router with its own caseSensitive and strict settings says so with paths', async (t) => {
  const { policy, seen } = forbidding('/api/Secret');
  const app = express();
  const router = express.Router({ caseSensitive: true, strict: true });
  const ran: string[] = [];
  router.use(authorizeRequest({ policy }).express({ paths: { caseSensitive: true, ignoreTrailingSlash: false } }));
  router.get('/Secret', (req, res) => {
    ran.push(req.originalUrl);
    res.send('secret');
  });
  router.get('/secret', (_req, res) => {
    res.send('lowercase');
  });
  app.use('/api', router);
  const get = await serveRaw(t, app);
  t.equal((await get('/api/Secret')).status, 403);
  t.equal((await get('/API/Secret')).status, 403, 'the app mounts /api case-insensitively');
  t.equal((await get('/api/secret')).body, 'lowercase', 'another route of a case-sensitive router');
  t.equal((await get('/api/Secret/')).status, 404, 'strict: another path, allowed, and no route has it');
  t.same(ran, [], 'the forbidden handler never ran');
  t.same(seen, ['/api/Secret', '/api/Secret', '/api/secret', '/api/Secret/']);
});

t.test('on the app itself (with or without a path) the app routes the whole path with its settings', async (t) => {
  const { policy, seen } = forbidding('/api/Admin');
  const app = express();
  app.set('case sensitive routing', true);
  const authz = authorizeRequest({ policy });
  app.use('/api', authz.express());
  app.get('/api/Admin', (_req, res) => {
    res.send('admin');
  });
  app.get('/solo', authz.express(), (_req, res) => {
    res.send('solo');
  });
  app.get('/{*rest}', (_req, res) => {
    res.send('other');
  });
  const get = await serveRaw(t, app);
  t.equal((await get('/api/Admin')).status, 403);
  t.equal((await get('/api/admin')).body, 'other', 'case-sensitive: another path');
  t.equal((await get('/Solo')).body, 'other');
  t.equal((await get('/solo')).body, 'solo');
  t.same(seen, ['/api/Admin', '/api/admin', '/solo'], 'route-level middleware reads the app settings too');
});

t.test('routers in routers: the resource is the whole path', async (t) => {
  const { policy, seen } = forbidding('/v1/api/admin');
  const app = express();
  const outer = express.Router();
  const inner = express.Router();
  inner.use(authorizeRequest({ policy }).express());
  inner.get('/{*rest}', (req, res) => {
    res.json({
      baseUrl: req.baseUrl,
      authorized: (req as unknown as { authorization?: object }).authorization !== undefined,
    });
  });
  outer.use('/api', inner);
  app.use('/v1', outer);
  const get = await serveRaw(t, app);
  t.equal((await get('/V1/API/Admin')).status, 403);
  t.same(JSON.parse((await get('/v1/api/orders?x=1')).body), { baseUrl: '/v1/api', authorized: true });
  t.equal((await get('/v1/api')).status, 200, 'the root of the router');
  t.same(seen, ['/v1/api/admin', '/v1/api/orders', '/v1/api']);
});

t.test('mount options are checked', async (t) => {
  const authz = authorizeRequest({ policy: () => true });
  t.throws(() => authz.express({ paths: { caseSensitive: 'yes' as unknown as boolean } }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /paths\.caseSensitive/,
  });
  t.throws(() => authz.express({ paths: { strict: true } as never }), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(() => authz.express('x' as never), { code: 'ERR_CTLS_INVALID_OPTION' });
});
