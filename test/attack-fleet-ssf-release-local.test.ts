/**
 * Attack: a SET claimed in the fleet-wide jti store whose apply then failed is "released" only in the
 * process that failed. The transmitter's retry, delivered to another process behind the same load
 * balancer (or to this process after a restart), meets the fleet-wide claim, is acknowledged as a
 * duplicate (202) and is never applied anywhere: the session revocation is lost.
 */
import t from 'tap';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { AUDIENCE, CAEP, fakeFleet, push, serve } from './helpers/ssf';

t.test('a retry of a SET that could not be applied is applied by another process', async (t) => {
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const options = { issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks() };
  const shared = new Map<string, number>(); // one Redis behind both processes
  const fleetA = fakeFleet(shared);
  const fleetB = fakeFleet(shared);
  const urlA = await serve(t, ssfReceiver({ ...options, fleet: fleetA }).handler);
  const urlB = await serve(t, ssfReceiver({ ...options, fleet: fleetB }).handler);
  const token = await transmitter.sign({
    audience: AUDIENCE,
    subject: { format: 'email', email: 'bob@example.com' },
    jti: 'lost-1',
    events: { [`${CAEP}session-revoked`]: {} },
  });

  fleetA.failNext(1); // Redis blips between the claim and the publish
  t.equal((await push(urlA, token)).status, 503, 'process A could not apply it: retry later');
  const retry = await push(urlB, token); // the retry lands on process B
  t.equal(retry.status, 202);
  t.equal(fleetB.calls.length, 1, 'the retried SET is applied (the revocation is not lost)');
});

t.test('a retry after the failing process restarted is applied', async (t) => {
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const options = { issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks() };
  const shared = new Map<string, number>();
  const before = fakeFleet(shared);
  const token = await transmitter.sign({
    audience: AUDIENCE,
    subject: { format: 'email', email: 'bob@example.com' },
    jti: 'lost-2',
    events: { [`${CAEP}session-revoked`]: {} },
  });
  before.failNext(1);
  await t.rejects(ssfReceiver({ ...options, fleet: before }).receive(token));
  const after = fakeFleet(shared); // the same process, restarted: a new receiver on the same Redis
  const events = await ssfReceiver({ ...options, fleet: after }).receive(token);
  t.equal(after.calls.length, 1, 'applied after the restart');
  t.equal(events[0]?.applied, true);
});
