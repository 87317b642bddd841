/**
 * Attack: RemoteKeys.refresh() honours jwksCooldown, but current() does not: while the receiver
 * holds no keys (its first fetch of the transmitter's JWKS failed: the endpoint is down, answers
 * 5xx or something malformed), every SET pushed to it fetches the JWKS again. Anyone who can reach
 * the push endpoint (or a transmitter retrying its backlog) turns each request into an outbound
 * fetch, hammering an identity provider that is already failing, which the cooldown exists to stop.
 */
import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { AUDIENCE, CAEP } from './helpers/ssf';

t.test('SETs arriving while the JWKS cannot be fetched do not each fetch it again', { timeout: 20_000 }, async (t) => {
  let fetches = 0;
  const jwksServer = createServer((_req, res) => {
    fetches++;
    res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => jwksServer.close(() => resolve())));
  const { port } = jwksServer.address() as AddressInfo;
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const receiver = ssfReceiver({
    issuer: transmitter.issuer,
    audience: AUDIENCE,
    jwksUrl: `http://127.0.0.1:${port}/jwks`,
    jwksCooldown: 30_000,
  });
  receiver.on('error', () => {});
  const token = await transmitter.sign({
    audience: AUDIENCE,
    subject: { format: 'email', email: 'dev@example.com' },
    jti: 'x',
    iat: Math.floor(Date.now() / 1000),
    events: { [`${CAEP}session-revoked`]: {} },
  });
  for (let i = 0; i < 30; i++) await receiver.verify(token).catch(() => undefined);
  t.ok(fetches <= 2, `30 SETs within one cooldown fetched the JWKS ${fetches} times`);
});
