// A deny hook that shapes the answer without sending it (sets a header, a status, returns the
// reply or the response) must still get the default refusal, with the headers it set: never a
// request left without an answer, never the handler. Fastify's fluent API returns the reply from
// reply.header() and reply.code(), and a reply is a thenable that settles only when the response
// ends, so a hook returning it unsent could hang the request.
import express from 'express';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import t from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import type { RequestRefusal } from '../dist/http/problem.js';
import { serveRaw } from './helpers/serve-raw';

const policy = (input: { request?: { path: string } }) => input.request!.path !== '/admin';
const HELP = '<https://help.example>; rel="help"';

type FastifyHook = (request: FastifyRequest, reply: FastifyReply, refusal: RequestRefusal) => unknown;
const FASTIFY_HOOKS: Array<[string, FastifyHook]> = [
  ['sets a header, returns the reply', (_q, reply) => reply.header('link', HELP)],
  ['sets a status, returns the reply', (_q, reply) => reply.code(200).header('link', HELP)],
  ['async, returns the reply unsent', async (_q, reply) => reply.header('link', HELP)],
  ['sets a header, returns nothing', (_q, reply) => void reply.header('link', HELP)],
  ['sets framing headers', (_q, reply) => reply.header('link', HELP).header('content-length', '1')],
];

for (const [name, onDeny] of FASTIFY_HOOKS) {
  t.test(`Fastify onDeny: ${name}`, async (t) => {
    const app = Fastify();
    t.teardown(() => app.close());
    await app.register(authorizeRequest({ policy }).fastify, { onDeny: onDeny as never });
    app.get('/admin', async () => 'ADMIN');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const get = await serveRaw(t, app.server);
    const r = await Promise.race([
      get('/admin'),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer')), 3000).unref()),
    ]);
    t.equal(r.status, 403);
    t.equal(r.headers['link'], HELP, 'the header the hook set is kept');
    t.equal(r.headers['content-type'], 'application/problem+json');
    t.match(JSON.parse(r.body), { status: 403 });
  });
}

t.test('Fastify onDeny that sends, with an async onSend hook pending, answers once', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  app.addHook('onSend', async (_q, _r, payload) => {
    await new Promise((r) => setTimeout(r, 20));
    return payload;
  });
  await app.register(authorizeRequest({ policy }).fastify, {
    onDeny: (_q: FastifyRequest, reply: FastifyReply) => reply.code(451).send('custom'),
  });
  app.get('/admin', async () => 'ADMIN');
  await app.listen({ port: 0, host: '127.0.0.1' });
  const get = await serveRaw(t, app.server);
  const r = await get('/admin');
  t.equal(r.status, 451);
  t.equal(r.body, 'custom');
});

t.test('Fastify onDeny that hijacks and answers on the raw response', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(authorizeRequest({ policy }).fastify, {
    onDeny: (_q: FastifyRequest, reply: FastifyReply) => {
      reply.hijack();
      reply.raw.writeHead(418, { 'content-length': 3 }).end('tea');
      return reply;
    },
  });
  app.get('/admin', async () => 'ADMIN');
  await app.listen({ port: 0, host: '127.0.0.1' });
  const r = await (await serveRaw(t, app.server))('/admin');
  t.equal(r.status, 418);
  t.equal(r.body, 'tea');
});

t.test('node() and Express onDeny that set headers and return the response', async (t) => {
  const onDeny = (_req: unknown, res: import('node:http').ServerResponse) => {
    res.statusCode = 200;
    res.setHeader('link', HELP);
    res.setHeader('transfer-encoding', 'chunked');
    return res;
  };
  const authz = authorizeRequest({ policy, onDeny });
  const app = express();
  app.use(authz.express());
  app.get('/admin', (_req, res) => void res.send('ADMIN'));
  for (const get of [
    await serveRaw(t, app),
    await serveRaw(
      t,
      authz.node((_req, res) => void res.end('ADMIN')),
    ),
  ]) {
    const r = await get('/admin');
    t.equal(r.status, 403);
    t.equal(r.headers['link'], HELP, 'the header the hook set is kept');
    t.equal(r.headers['transfer-encoding'], undefined, 'not its framing');
    t.match(JSON.parse(r.body), { status: 403 });
  }
});
