// The push endpoint mounted in Express and Fastify answers as the node:http handler does: 202 for a
// good SET, the RFC 8935 error for a bad one, the HTTP status for a bad exchange, and it leaves the
// application's other routes (and their body parsing) alone.
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import t, { type Test } from 'tap';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { AUDIENCE, fakeFleet, push, serve } from './helpers/ssf';

const alice = { format: 'email', email: 'alice@example.com' } as const;

async function setup() {
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const fleet = fakeFleet();
  const receiver = ssfReceiver({
    issuer: transmitter.issuer,
    audience: AUDIENCE,
    jwks: transmitter.jwks(),
    fleet,
    maxBodyBytes: 4096,
  });
  const good = () => transmitter.caep('session-revoked', { audience: AUDIENCE, subject: alice });
  const wrongAudience = () => transmitter.caep('session-revoked', { audience: 'https://other.test/', subject: alice });
  return { fleet, receiver, good, wrongAudience };
}

async function exercise(t: Test, url: string, s: Awaited<ReturnType<typeof setup>>) {
  t.equal((await push(url, await s.good())).status, 202);
  const refused = await push(url, await s.wrongAudience());
  t.equal(refused.status, 400);
  t.equal(refused.json?.['err'], 'invalid_audience');
  const json = await push(url, '{}', { 'content-type': 'application/json' });
  t.equal(json.status, 415);
  t.equal(json.json?.['err'], 'invalid_request');
  const big = await push(url, 'x'.repeat(10_000));
  t.equal(big.status, 413);
  t.equal(s.fleet.calls.length, 1);
}

t.test('Express', async (t) => {
  const s = await setup();
  const app = express();
  app.use(express.json());
  app.post('/ssf', s.receiver.express());
  app.post('/echo', (req, res) => void res.json(req.body));
  const url = await serve(t, app);
  await exercise(t, `${url}/ssf`, s);
  const echo = await push(`${url}/echo`, '{"a":1}', { 'content-type': 'application/json' });
  t.same(echo.json, { a: 1 }, 'other routes keep their parsers');
});

t.test('Express with a text body parser in front', async (t) => {
  const s = await setup();
  const app = express();
  app.post('/ssf', express.text({ type: 'application/secevent+jwt', limit: '1mb' }), s.receiver.express());
  const url = await serve(t, app);
  await exercise(t, `${url}/ssf`, s);
});

t.test('Fastify', async (t) => {
  const s = await setup();
  const app = Fastify();
  await app.register(s.receiver.fastify, { prefix: '/ssf' });
  app.post('/echo', async (request) => request.body);
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  await exercise(t, `${url}/ssf`, s);
  const none = await fetch(`${url}/ssf`, { method: 'POST', body: await s.good() });
  t.equal(none.status, 415, 'a body without a content type');
  const echo = await push(`${url}/echo`, '{"a":1}', { 'content-type': 'application/json' });
  t.same(echo.json, { a: 1 }, "the plugin's catch-all parser stays inside it");
});
