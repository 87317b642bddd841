// The Fastify plugin as fastify-plugin builds them: metadata Fastify checks at register, a `prefix`
// that limits which requests are decided, a per-route opt-out, request.authorization decorated with
// null (so every request has the property), and an onDeny hook that shapes the answer.
import Fastify, { type FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import type { AuthorizationInput } from '../dist/common/types.js';

/** Forbids /api/admin and /open/admin; records what it was asked. */
function forbidAdmin() {
  const seen: string[] = [];
  const policy = (input: AuthorizationInput) => {
    seen.push(input.request!.path);
    return { allow: !input.request!.path.endsWith('/admin'), reason: `rule admin-7 for ${input.request!.path}` };
  };
  return { policy, seen };
}

async function app(t: Test, build: (app: FastifyInstance) => Promise<void> | void, options = {}) {
  const instance = Fastify(options);
  await build(instance);
  await instance.ready();
  t.teardown(() => instance.close());
  return instance;
}

function routes(instance: FastifyInstance): void {
  const show = async (request: { authorization: unknown }) => ({ authorization: request.authorization !== null });
  instance.get('/api/admin', show);
  instance.get('/api/orders', show);
  instance.get('/open/admin', show);
  instance.get('/health', { config: { authorization: false } }, show);
}

t.test('the plugin carries fastify-plugin metadata', async (t) => {
  const plugin = authorizeRequest({ policy: () => true }).fastify as unknown as Record<symbol, unknown>;
  t.equal(plugin[Symbol.for('skip-override')], true);
  t.equal(plugin[Symbol.for('fastify.display-name')], 'continuous-tls-authorize');
  t.same(plugin[Symbol.for('plugin-meta')], { name: 'continuous-tls-authorize', fastify: '5.x' });
  // Fastify refuses a plugin whose range excludes it, before running it.
  const wrong = Object.assign(async () => {}, { [Symbol.for('plugin-meta')]: { name: 'x', fastify: '4.x' } });
  const instance = Fastify();
  await t.rejects(
    async () => {
      await instance.register(wrong).ready();
    },
    { code: 'FST_ERR_PLUGIN_VERSION_MISMATCH' },
  );
});

t.test('every route is decided by default; a route opts out with config.authorization = false', async (t) => {
  const { policy, seen } = forbidAdmin();
  const instance = await app(t, async (i) => {
    await i.register(authorizeRequest({ policy }).fastify);
    routes(i);
  });
  t.equal((await instance.inject({ url: '/api/admin' })).statusCode, 403);
  t.same((await instance.inject({ url: '/api/orders' })).json(), { authorization: true });
  t.same((await instance.inject({ url: '/health' })).json(), { authorization: false }, 'opted out: null');
  t.equal((await instance.inject({ url: '/nowhere' })).statusCode, 404);
  t.same(seen, ['/api/admin', '/api/orders', '/nowhere'], 'the opted-out route was not decided');
});

t.test('prefix: only requests under it are decided, on the canonical path', async (t) => {
  const { policy, seen } = forbidAdmin();
  const instance = await app(
    t,
    async (i) => {
      await i.register(authorizeRequest({ policy }).fastify, { prefix: '/API/' });
      routes(i);
    },
    { routerOptions: { caseSensitive: false } },
  );
  t.equal((await instance.inject({ url: '/api/admin' })).statusCode, 403);
  t.equal((await instance.inject({ url: '/Api/ADMIN' })).statusCode, 403, 'case-insensitive router and prefix');
  t.equal((await instance.inject({ url: '/api' })).statusCode, 404, 'the prefix itself is under it');
  t.same((await instance.inject({ url: '/open/admin' })).json(), { authorization: false }, 'outside: not decided');
  t.same((await instance.inject({ url: '/apix' })).statusCode, 404, 'a segment boundary, not a string prefix');
  t.equal((await instance.inject({ url: '/api/%41dmin' })).statusCode, 400, 'an ambiguous path is decided');
  t.same(seen, ['/api/admin', '/api/admin', '/api']);
  await t.rejects(
    async () => {
      await Fastify().register(authorizeRequest({ policy }).fastify, { prefix: 'api' }).ready();
    },
    { code: 'ERR_CTLS_INVALID_OPTION', message: /prefix/ },
  );
});

t.test('request.authorization is a decorator: declared with null, the decision once allowed', async (t) => {
  const instance = await app(t, async (i) => {
    await i.register(authorizeRequest({ policy: () => ({ allow: true, reason: 'fine' }) }).fastify);
    // Registering twice does not decorate twice; both hooks decide, the last one's decision stays.
    await i.register(authorizeRequest({ policy: () => true }).fastify);
    i.get('/x', async (request) => ({
      own: Object.hasOwn(request, 'authorization'),
      reason: (request as unknown as { authorization: { reason: string } }).authorization.reason,
    }));
  });
  t.ok(instance.hasRequestDecorator('authorization'));
  t.same((await instance.inject({ url: '/x' })).json(), { own: true, reason: 'allowed' });
});

t.test('onDeny in the plugin options shapes the answer', async (t) => {
  const { policy } = forbidAdmin();
  const refusals: Array<{ status: number; reason: string | undefined }> = [];
  const instance = await app(t, async (i) => {
    await i.register(authorizeRequest({ policy }).fastify, {
      onDeny(request, reply, refusal) {
        refusals.push({ status: refusal.status, reason: refusal.decision?.reason });
        if (request.raw.url === '/api/admin') return reply.code(418).send({ custom: true });
        if (request.raw.url === '/open/admin') throw new Error('secret internals');
        reply.header('x-denied-by', 'gateway');
        return undefined;
      },
    });
    i.get('/other/admin', async () => 'no');
    routes(i);
  });
  const custom = await instance.inject({ url: '/api/admin' });
  t.equal(custom.statusCode, 418);
  t.same(custom.json(), { custom: true });
  const fallback = await instance.inject({ url: '/other/admin' });
  t.equal(fallback.statusCode, 403, 'the hook did not answer: the default problem');
  t.equal(fallback.headers['x-denied-by'], 'gateway', 'with the header the hook set');
  t.same(fallback.json(), { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'access denied' });
  const failed = await instance.inject({ url: '/open/admin' });
  t.equal(failed.statusCode, 500);
  t.equal(failed.headers['content-type'], 'application/problem+json');
  t.same(failed.json(), { type: 'about:blank', title: 'Internal Server Error', status: 500 });
  t.notMatch(failed.body, /secret|admin-7/);
  t.same(refusals, [
    { status: 403, reason: 'rule admin-7 for /api/admin' },
    { status: 403, reason: 'rule admin-7 for /other/admin' },
    { status: 403, reason: 'rule admin-7 for /open/admin' },
  ]);
});

t.test("the authorizer's onDeny(req, res) works on Fastify's raw response", async (t) => {
  const { policy } = forbidAdmin();
  const instance = await app(t, async (i) => {
    await i.register(
      authorizeRequest({
        policy,
        onDeny(req, res, refusal) {
          if (req.url === '/api/admin') res.writeHead(451, { 'content-type': 'text/plain' }).end('unavailable');
          else res.setHeader('x-refused', String(refusal.status));
        },
      }).fastify,
    );
    routes(i);
  });
  const own = await instance.inject({ url: '/api/admin' });
  t.equal(own.statusCode, 451);
  t.equal(own.body, 'unavailable');
  const fallback = await instance.inject({ url: '/open/admin' });
  t.equal(fallback.statusCode, 403);
  t.equal(fallback.headers['x-refused'], '403');
  t.match(fallback.json(), { detail: 'access denied' });
});
