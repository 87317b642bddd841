// Express sub-apps: the mount path (`req.baseUrl`) is matched by the parent apps' routers, the rest
// by the sub-app's. A sub-app with case-sensitive routing mounted in a default (case-insensitive)
// parent runs its handlers for `/TENANT/admin`, so the policy must see `/tenant/admin`; and a
// mount path matched case-sensitively all the way keeps its case.
import express from 'express';
import t from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { serveRaw } from './helpers/serve-raw';

function forbidding(path: string) {
  const seen: string[] = [];
  const policy = (input: AuthorizationInput) => {
    seen.push(input.request!.path);
    return input.request!.path !== path;
  };
  return { authz: authorizeRequest({ policy }), seen };
}

t.test('a case-sensitive sub-app in a case-insensitive parent', async (t) => {
  const { authz, seen } = forbidding('/tenant/admin');
  const parent = express();
  const sub = express();
  sub.set('case sensitive routing', true);
  sub.use(authz.express());
  sub.get('/admin', (_req, res) => void res.send('ADMIN'));
  parent.use('/tenant', sub);
  const get = await serveRaw(t, parent);
  for (const url of ['/tenant/admin', '/TENANT/admin', '/Tenant/admin?x', 'http://evil/TENANT/admin']) {
    const r = await get(url);
    t.equal(r.status, 403, url);
    t.notMatch(r.body, /ADMIN/);
  }
  t.equal((await get('/tenant/ADMIN')).status, 404, 'the sub-app matches the rest case-sensitively');
  t.same(seen, ['/tenant/admin', '/tenant/admin', '/tenant/admin', '/tenant/admin', '/tenant/ADMIN']);
});

t.test('the same sub-app with the middleware on a path, and a grandparent', async (t) => {
  const { authz, seen } = forbidding('/org/tenant/admin');
  const grandparent = express();
  const parent = express();
  parent.set('case sensitive routing', true);
  const sub = express();
  sub.set('case sensitive routing', true);
  sub.use('/admin', authz.express());
  sub.get('/admin', (_req, res) => void res.send('ADMIN'));
  parent.use('/tenant', sub);
  grandparent.use('/org', parent);
  const get = await serveRaw(t, grandparent);
  t.equal((await get('/ORG/tenant/admin')).status, 403, 'the grandparent ignores case: the mount path folded');
  t.equal((await get('/org/TENANT/admin')).status, 404, 'the parent matches case-sensitively: not mounted');
  t.same(seen, ['/org/tenant/admin']);
});

t.test('a mount path matched case-sensitively all the way keeps its case', async (t) => {
  const { authz, seen } = forbidding('/alice/admin');
  const parent = express();
  parent.set('case sensitive routing', true);
  const sub = express();
  sub.set('case sensitive routing', true);
  sub.use(authz.express());
  sub.get('/admin', (req, res) => void res.send(`ADMIN of ${req.baseUrl}`));
  parent.use('/:tenant', sub);
  const get = await serveRaw(t, parent);
  t.equal((await get('/alice/admin')).status, 403);
  t.equal((await get('/Alice/admin')).body, 'ADMIN of /Alice', 'another tenant: its own path, allowed');
  t.same(seen, ['/alice/admin', '/Alice/admin']);
});

t.test('a default sub-app mounted at the root of a case-sensitive parent', async (t) => {
  const { authz, seen } = forbidding('/api/admin');
  const parent = express();
  parent.set('case sensitive routing', true);
  const sub = express();
  sub.use(authz.express());
  sub.get('/api/admin', (_req, res) => void res.send('ADMIN'));
  parent.use(sub);
  const get = await serveRaw(t, parent);
  t.equal((await get('/API/Admin')).status, 403, 'the sub-app ignores case');
  t.same(seen, ['/api/admin']);
});

t.test("among a route's handlers in a default sub-app, the parent's case rule reads the mount path", async (t) => {
  const { authz, seen } = forbidding('/alice/admin');
  const parent = express();
  parent.set('case sensitive routing', true);
  const sub = express();
  sub.get('/admin', authz.express(), (req, res) => void res.send(`ADMIN of ${req.baseUrl}`));
  parent.use('/:tenant', sub);
  const get = await serveRaw(t, parent);
  t.equal((await get('/alice/ADMIN')).status, 403, 'the sub-app folds its own part');
  t.equal((await get('/Alice/admin')).body, 'ADMIN of /Alice', 'the mount path keeps its case');
  t.same(seen, ['/alice/admin', '/Alice/admin']);
});
