// The resource a request is judged on is the path the router routes: spellings of /admin that
// Express 5, Fastify 5 or a node:http app built on new URL() would route to the admin handler
// never reach it, and HEAD is judged as the GET it runs.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import t, { type Test } from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { canonicalPath } from '../dist/http/path.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { rawHttp } from './helpers/raw-http';

/** `forbid (…, resource == "/admin")` over a permit-all, with a HEAD / GET distinction to catch. */
const forbidAdmin = (input: AuthorizationInput) =>
  !(input.request!.path === '/admin' && input.request!.method === 'GET');
/** An allow-list: `permit (…, resource like "/public/*")`. */
const publicOnly = (input: AuthorizationInput) => input.request!.path.startsWith('/public/');

async function rawClient(t: Test, server: http.Server) {
  if (!server.listening) {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
  }
  return async (method: string, target: string) => {
    // One connection per request: a 400 may close it.
    const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    try {
      return await rawHttp(socket)(method, target);
    } finally {
      socket.destroy();
    }
  };
}

const ADMIN_SPELLINGS = [
  '/admin',
  '/ADMIN',
  '/Admin',
  '/admin/',
  'http://evil/admin',
  'HTTP://evil.test:80/admin?x',
  '/admin#frag',
  '/%61dmin',
  '/%41DMIN',
  '/admin?',
  '/admin;x',
  '/admin%2F',
  '/admin/.',
  '/x/../admin',
  '/%2e%2e/admin',
  '//admin',
  '/admin%00',
  '/admin%5C',
];

t.test('Express 5: no spelling of /admin runs the admin handler', async (t) => {
  const ran: string[] = [];
  const app = express();
  app.use(authorizeRequest({ policy: forbidAdmin }).express());
  app.get('/admin', (req, res) => {
    ran.push(`${req.method} ${req.originalUrl}`);
    res.send('admin');
  });
  app.get('/{*rest}', (_req, res) => {
    res.send('other');
  });
  const send = await rawClient(t, http.createServer(app));
  for (const target of ADMIN_SPELLINGS) {
    const r = await send('GET', target);
    t.not(r.body, 'admin', `GET ${target}: ${r.status}`);
  }
  const head = await send('HEAD', '/admin');
  t.equal(head.status, 403, 'HEAD /admin is judged as GET /admin');
  t.same(ran, [], 'the admin handler never ran');
  t.equal((await send('GET', '/other')).body, 'other', 'other paths are served');
});

t.test('Express with case-sensitive, strict routing: the canonical path follows the app settings', async (t) => {
  const app = express();
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  const seen: string[] = [];
  app.use(
    authorizeRequest({
      policy: (i: AuthorizationInput) => {
        seen.push(i.request!.path);
        return true;
      },
    }).express(),
  );
  app.get('/{*rest}', (_req, res) => {
    res.send('ok');
  });
  const send = await rawClient(t, http.createServer(app));
  await send('GET', '/ADMIN/');
  t.same(seen, ['/ADMIN/']);
});

t.test('Fastify 5: no spelling of /admin runs the admin handler', async (t) => {
  for (const options of [
    {},
    {
      routerOptions: {
        caseSensitive: false,
        ignoreTrailingSlash: true,
        ignoreDuplicateSlashes: true,
        useSemicolonDelimiter: true,
      },
    },
  ]) {
    const ran: string[] = [];
    const app = Fastify(options);
    await app.register(authorizeRequest({ policy: forbidAdmin }).fastify);
    app.get('/admin', async (req) => {
      ran.push(`${req.method} ${req.raw.url}`);
      return 'admin';
    });
    app.get('/*', async () => 'other');
    await app.listen({ port: 0, host: '127.0.0.1' });
    t.teardown(() => app.close());
    const send = await rawClient(t, app.server);
    for (const target of ADMIN_SPELLINGS) {
      const r = await send('GET', target);
      t.not(r.body, 'admin', `${JSON.stringify(options)} GET ${target}: ${r.status}`);
    }
    t.equal((await send('HEAD', '/admin')).status, 403, 'HEAD /admin is judged as GET /admin');
    t.same(ran, [], 'the admin handler never ran');
  }
});

t.test('node:http routing on new URL(): an allow-list of /public/* holds', async (t) => {
  const ran: string[] = [];
  const authz = authorizeRequest({ policy: publicOnly });
  const send = await rawClient(
    t,
    http.createServer(
      authz.node((req, res) => {
        const path = new URL(req.url!, 'http://localhost').pathname;
        if (path === '/admin') ran.push(req.url!);
        res.end(path === '/admin' ? 'admin' : 'public');
      }),
    ),
  );
  for (const target of [
    '/public/../admin',
    '/public/%2e%2e/admin',
    '/public/%2E%2E/admin',
    '/public/.%2e/admin',
    '/public/..%2fadmin',
    '/public%2f..%2fadmin',
    '/public\\..\\admin',
    '/public/..\\admin',
    '//public/../admin',
    'http://evil/public/../admin',
    '/public/./../admin',
  ]) {
    const r = await send('GET', target);
    t.not(r.body, 'admin', `GET ${target}: ${r.status}`);
  }
  t.same(ran, [], 'the admin branch never ran');
  t.equal((await send('GET', '/public/a')).body, 'public');
});

t.test('canonicalPath', async (t) => {
  const express5 = { caseSensitive: false, ignoreTrailingSlash: true, mergeSlashes: false, semicolonDelimiter: false };
  const strict = { caseSensitive: true, ignoreTrailingSlash: false, mergeSlashes: false, semicolonDelimiter: false };
  const ok: Array<[string, string, typeof strict]> = [
    ['/ADMIN/', '/admin', express5],
    ['http://evil/admin?x#y', '/admin', strict],
    ['/a%40b%3A%20c', '/a@b: c', strict],
    ['/caf%C3%A9', '/café', strict],
    ['/a%3fb%23c', '/a%3Fb%23c', strict],
    ['/a%25b', '/a%25b', strict],
    ['/a//b', '/a//b', strict],
    ['/', '/', express5],
    ['*', '*', strict],
  ];
  for (const [target, path, rules] of ok) t.same(canonicalPath(target, rules), { ok: true, path }, target);
  t.same(canonicalPath('//a//b/', { ...strict, mergeSlashes: true, ignoreTrailingSlash: true }), {
    ok: true,
    path: '/a/b',
  });
  for (const target of [
    '/a/../b',
    '/a/%2E%2e/b',
    '/a/.',
    '/a%2Fb',
    '/a%5cb',
    '/a%00',
    '/a\\b',
    '/a%zz',
    '/a%C3',
    '//a',
    '/%61dmin',
    '/a%2e',
    '/a%7E',
    'ftp://x/a',
    'x',
    '/a%FF',
  ]) {
    t.match(canonicalPath(target, strict), { ok: false }, `${target} is refused`);
  }
});
