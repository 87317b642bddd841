// Transmitter discovery (/.well-known/ssf-configuration) and the stream verification round trip:
// the receiver asks for a verification event and resolves when the SET with its state arrives,
// by poll or by push; a document naming another issuer and a verification that never comes are errors.
import t from 'tap';
import { startDevTransmitterServer } from '../dist/dev/ssf-transmit.js';
import { discoverTransmitter, ssfReceiver } from '../dist/fleet/ssf/index.js';
import { wellKnownUrl } from '../dist/fleet/ssf/discovery.js';
import { AUDIENCE, fakeFleet, serve } from './helpers/ssf';

t.test('the well-known URL goes before the issuer path', async (t) => {
  t.equal(wellKnownUrl('https://idp.test').href, 'https://idp.test/.well-known/ssf-configuration');
  t.equal(wellKnownUrl('https://idp.test/').href, 'https://idp.test/.well-known/ssf-configuration');
  t.equal(wellKnownUrl('https://idp.test/t/acme/').href, 'https://idp.test/.well-known/ssf-configuration/t/acme');
});

t.test('discovery reads the configuration and checks its issuer', async (t) => {
  const server = await startDevTransmitterServer({ audience: AUDIENCE });
  t.teardown(() => server.close());
  const receiver = ssfReceiver({ issuer: server.url, audience: AUDIENCE, jwksUrl: `${server.url}/jwks.json` });
  const metadata = await receiver.discover();
  t.equal(metadata.issuer, server.url);
  t.equal(metadata.jwks_uri, `${server.url}/jwks.json`);
  t.same(metadata.delivery_methods_supported, ['urn:ietf:rfc:8935', 'urn:ietf:rfc:8936']);
  t.equal(metadata.verification_endpoint, `${server.url}/verify`);

  const liar = await serve(t, (req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/ssf-configuration') res.end(JSON.stringify({ issuer: 'https://evil.test' }));
    else if (req.url === '/.well-known/ssf-configuration/bad') res.end('{"issuer":');
    else if (req.url === '/.well-known/ssf-configuration/jwks')
      res.end(JSON.stringify({ issuer: `${liar}/jwks`, jwks_uri: 3 }));
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  await t.rejects(discoverTransmitter(liar), { code: 'ERR_CTLS_SSF_TRANSMITTER', message: /another issuer/ });
  await t.rejects(discoverTransmitter(`${liar}/bad`), { code: 'ERR_CTLS_SSF_TRANSMITTER', message: /not JSON/ });
  await t.rejects(discoverTransmitter(`${liar}/jwks`), { code: 'ERR_CTLS_SSF_TRANSMITTER', message: /jwks_uri/ });
  await t.rejects(discoverTransmitter(`${liar}/none`), { code: 'ERR_CTLS_SSF_TRANSMITTER', message: /404/ });
  await t.rejects(discoverTransmitter('http://127.0.0.1:1'), { code: 'ERR_CTLS_SSF_TRANSMITTER' });
});

t.test('stream verification by poll', async (t) => {
  const server = await startDevTransmitterServer({ audience: AUDIENCE });
  t.teardown(() => server.close());
  const fleet = fakeFleet();
  const receiver = ssfReceiver({ issuer: server.url, audience: AUDIENCE, jwksUrl: `${server.url}/jwks.json`, fleet });
  const handle = receiver.poll({ url: `${server.url}/poll`, interval: 20 });
  t.teardown(() => handle.stop());
  const set = await receiver.requestVerification({ streamId: 'stream-1', timeout: 5_000 });
  const event = set.claims.events['https://schemas.openid.net/secevent/ssf/event-type/verification'];
  t.type(event?.['state'], 'string');
  t.same(set.claims.sub_id, { format: 'opaque', id: 'stream-1' });
  t.same(fleet.calls, [], 'a verification event changes no access');
});

t.test('stream verification by push', async (t) => {
  const server = await startDevTransmitterServer({ audience: AUDIENCE });
  t.teardown(() => server.close());
  const receiver = ssfReceiver({ issuer: server.url, audience: AUDIENCE, jwks: server.transmitter.jwks() });
  server.pushTo = await serve(t, receiver.handler);
  const [first, second] = await Promise.all([receiver.requestVerification(), receiver.requestVerification()]);
  const state = (set: typeof first) =>
    set.claims.events['https://schemas.openid.net/secevent/ssf/event-type/verification']?.['state'];
  t.not(state(first), state(second), 'each request is answered by its own event');
});

t.test('a verification event that never comes, and a transmitter without a verification endpoint', async (t) => {
  const server = await startDevTransmitterServer({ audience: AUDIENCE });
  t.teardown(() => server.close());
  const receiver = ssfReceiver({ issuer: server.url, audience: AUDIENCE, jwks: server.transmitter.jwks() });
  // Queued for polling, and nobody polls.
  await t.rejects(receiver.requestVerification({ timeout: 200 }), {
    code: 'ERR_CTLS_SSF_TRANSMITTER',
    message: /no verification event arrived/,
  });
  const bare = await serve(t, (_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ issuer: bare }));
  });
  const other = ssfReceiver({ issuer: bare, audience: AUDIENCE, jwks: server.transmitter.jwks() });
  await t.rejects(other.requestVerification({ timeout: 200 }), {
    code: 'ERR_CTLS_SSF_TRANSMITTER',
    message: /no verification_endpoint/,
  });
});
