/**
 * Attack: one well-signed SET within the push endpoint's 64 KB limit names a subject of many aliases
 * and carries a token-claims-change of ~14 KB. The fleet stores the claims once per alias (one state
 * entry per identifier key), in Redis and in every member, and signals never expire: each such SET
 * grows every process by megabytes, and a stream of them exhausts memory fleet-wide.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { createFleet } from '../dist/index.js';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { AUDIENCE, CAEP } from './helpers/ssf';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('the state one push-sized SET creates is bounded', { timeout: 30_000 }, async (t) => {
  const redis = await startRedis(t);
  const fleet = await createFleet({ redis: redis.url, name: 'amplify' });
  t.teardown(() => fleet.close());
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const receiver = ssfReceiver({ issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks(), fleet });
  const identifiers = Array.from({ length: 700 }, (_, i) => ({ format: 'email' as const, email: `u${i}@x.io` }));
  const claims = { blob: 'x'.repeat(14_000) };
  const token = await transmitter.sign({
    audience: AUDIENCE,
    subject: { format: 'aliases', identifiers },
    jti: 'amplify-1',
    events: { [`${CAEP}token-claims-change`]: { claims } },
  });
  t.ok(token.length <= 65_536, `the SET fits the push endpoint (${token.length} bytes)`);
  await receiver.receive(token);

  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  const bytes = Number(await client.call('MEMORY', 'USAGE', 'ctls:{amplify}:state:signals', 'SAMPLES', '0'));
  t.ok(bytes < 1_000_000, `one 64 KB SET keeps less than 1 MB of fleet state (kept ${bytes} bytes)`);
});
