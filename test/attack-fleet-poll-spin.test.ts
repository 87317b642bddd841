/**
 * Attack: the RFC 8936 poll loop skips its pause whenever the transmitter says `moreAvailable: true`,
 * even when the answer carries no SET. A broken or hostile transmitter that always answers
 * `{ "sets": {}, "moreAvailable": true }` turns the receiver into a tight request loop: CPU and
 * sockets are spent as fast as loopback allows, with no backoff.
 */
import t from 'tap';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { AUDIENCE, serve } from './helpers/ssf';

t.test('an empty "moreAvailable" answer does not make the receiver spin', { timeout: 20_000 }, async (t) => {
  let requests = 0;
  const url = await serve(t, (req, res) => {
    requests++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sets: {}, moreAvailable: true }));
    });
  });
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const receiver = ssfReceiver({ issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks() });
  const handle = receiver.poll({ url: `${url}/poll`, interval: 1_000 });
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  await handle.stop();
  t.ok(requests <= 10, `at most a few polls in 2 s with a 1 s interval (made ${requests})`);
});
