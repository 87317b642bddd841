// onDeny(req, res, refusal) shapes the answer to a refused request on node:http and Express: it may
// answer itself (at once or after awaiting), only add headers to the default problem, or throw, which
// answers a bare 500 problem with nothing of the refusal or of the error.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import t, { type Test } from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import type { AuthorizationInput } from '../dist/common/types.js';

const policy = (input: AuthorizationInput) => ({
  allow: input.request!.path === '/open',
  reason: `policy P-42 denies ${input.request!.path}`,
});

type Refusal = Parameters<NonNullable<Parameters<typeof authorizeRequest>[0]['onDeny']>>[2];

const seen: Array<{ status: number; reason: string | undefined; body: string }> = [];

/** Answers itself on /teapot (after a tick), adds a header on /header, throws on /throw. */
async function onDeny(req: http.IncomingMessage, res: http.ServerResponse, refusal: Refusal) {
  seen.push({ status: refusal.status, reason: refusal.decision?.reason, body: refusal.body });
  const path = (req as { originalUrl?: string }).originalUrl ?? req.url;
  if (path === '/teapot') {
    await new Promise((r) => setImmediate(r));
    res.writeHead(418, { 'content-type': 'text/plain' }).end('short and stout');
  } else if (path === '/header') {
    res.setHeader('x-support', 'https://help.example/denied');
  } else if (path === '/throw') {
    throw new Error('internal detail: pdp at http://10.0.0.7');
  }
}

async function listen(t: Test, server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function exercise(t: Test, base: string) {
  seen.length = 0;
  t.equal(await (await fetch(`${base}/open`)).text(), 'handler');
  const teapot = await fetch(`${base}/teapot`);
  t.equal(teapot.status, 418);
  t.equal(await teapot.text(), 'short and stout');
  const header = await fetch(`${base}/header`);
  t.equal(header.status, 403, 'the hook did not answer: the default problem');
  t.equal(header.headers.get('x-support'), 'https://help.example/denied');
  t.same(await header.json(), { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'access denied' });
  const thrown = await fetch(`${base}/throw`);
  t.equal(thrown.status, 500);
  t.equal(thrown.headers.get('content-type'), 'application/problem+json');
  const text = await thrown.text();
  t.same(JSON.parse(text), { type: 'about:blank', title: 'Internal Server Error', status: 500 });
  t.notMatch(text, /P-42|10\.0\.0\.7|internal/);
  t.same(
    seen.map((s) => [s.status, s.reason]),
    [
      [403, 'policy P-42 denies /teapot'],
      [403, 'policy P-42 denies /header'],
      [403, 'policy P-42 denies /throw'],
    ],
    'the hook sees the full reason',
  );
  t.notMatch(seen[0]!.body, /P-42/, 'the default body it would replace does not');
}

t.test('node()', async (t) => {
  const authz = authorizeRequest({ policy, onDeny });
  const base = await listen(t, http.createServer(authz.node((_req, res) => res.end('handler'))));
  await exercise(t, base);
});

t.test('express()', async (t) => {
  const app = express();
  app.use(authorizeRequest({ policy, onDeny }).express());
  app.get('/open', (_req, res) => {
    res.send('handler');
  });
  await exercise(t, await listen(t, http.createServer(app)));
});

t.test('onDeny must be a function', async (t) => {
  t.throws(() => authorizeRequest({ policy, onDeny: 'x' as never }), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(() => authorizeRequest({ policy, exposeReason: 1 as never }), { code: 'ERR_CTLS_INVALID_OPTION' });
});
