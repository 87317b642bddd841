// The Fastify plugin reads the router's rules as Fastify 5 builds its router: a key in
// `routerOptions` wins, then the top-level option, then the default. Fastify's `initialConfig`
// fills `routerOptions` with defaults, so reading it alone misses a top-level setting next to any
// `routerOptions`, and the policy then judges another path than the one routed.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import t, { type Test } from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { serveRaw } from './helpers/serve-raw';

// The top-level router options are deprecated in Fastify 5 (FSTDEP022), and still honoured.
process.removeAllListeners('warning');

function forbidding(path: string) {
  const seen: string[] = [];
  const policy = (input: AuthorizationInput) => {
    seen.push(input.request!.path);
    return input.request!.path !== path;
  };
  return { authz: authorizeRequest({ policy }), seen };
}

async function serve(t: Test, options: FastifyServerOptions, prefix?: string) {
  const { authz, seen } = forbidding('/api/admin');
  const app: FastifyInstance = Fastify(options);
  t.teardown(() => app.close());
  await app.register(authz.fastify, prefix === undefined ? {} : { prefix });
  app.get('/api/admin', async (req) => `ADMIN ${String((req as { authorization?: unknown }).authorization !== null)}`);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { get: await serveRaw(t, app.server), seen };
}

for (const prefix of [undefined, '/api']) {
  t.test(`top-level caseSensitive: false next to routerOptions (prefix ${String(prefix)})`, async (t) => {
    const { get, seen } = await serve(t, { caseSensitive: false, routerOptions: { maxParamLength: 200 } }, prefix);
    for (const url of ['/api/admin', '/API/admin', '/Api/Admin']) {
      const r = await get(url);
      t.equal(r.status, 403, url);
      t.notMatch(r.body, /ADMIN/);
    }
    t.same(seen, ['/api/admin', '/api/admin', '/api/admin'], 'every spelling decided, as routed');
  });
}

t.test('top-level ignoreTrailingSlash next to routerOptions', async (t) => {
  const { get, seen } = await serve(t, { ignoreTrailingSlash: true, routerOptions: { maxParamLength: 200 } });
  t.equal((await get('/api/admin/')).status, 403);
  t.same(seen, ['/api/admin']);
});

t.test('top-level ignoreDuplicateSlashes next to routerOptions', async (t) => {
  const { get, seen } = await serve(t, { ignoreDuplicateSlashes: true, routerOptions: { maxParamLength: 200 } });
  t.equal((await get('/api//admin')).status, 403);
  t.same(seen, ['/api/admin']);
});

t.test('top-level useSemicolonDelimiter next to routerOptions', async (t) => {
  const { get, seen } = await serve(t, { useSemicolonDelimiter: true, routerOptions: { maxParamLength: 200 } });
  t.equal((await get('/api/admin;x=1')).status, 403);
  t.same(seen, ['/api/admin']);
});

t.test('routerOptions win over the top-level options', async (t) => {
  const { get, seen } = await serve(t, {
    caseSensitive: false,
    ignoreTrailingSlash: true,
    routerOptions: { caseSensitive: true, ignoreTrailingSlash: false },
  });
  t.equal((await get('/api/admin')).status, 403);
  t.equal((await get('/API/admin')).status, 404, 'case-sensitive router: another path, no route');
  t.equal((await get('/api/admin/')).status, 404, 'strict router: another path, no route');
  t.same(seen, ['/api/admin', '/API/admin', '/api/admin/']);
});

t.test('routerOptions alone, and no options at all (the defaults)', async (t) => {
  const a = await serve(t, { routerOptions: { caseSensitive: false, ignoreTrailingSlash: true } });
  t.equal((await a.get('/API/Admin/')).status, 403);
  t.same(a.seen, ['/api/admin']);
  const b = await serve(t, {});
  t.equal((await b.get('/API/admin')).status, 404);
  t.same(b.seen, ['/API/admin'], 'case-sensitive by default');
});

t.test('a prefix matches whatever the case, even under a case-sensitive router', async (t) => {
  const { get, seen } = await serve(t, {}, '/api');
  t.equal((await get('/API/admin')).status, 404, 'no route, but decided');
  t.same(seen, ['/API/admin']);
});
