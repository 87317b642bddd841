/**
 * Attack (lost revocation): during a key rotation the transmitter's JWKS holds two keys of one type
 * without `kid`s, and its SETs carry no `kid` (both optional, RFC 7515/7517). jose reports several
 * matching keys and the receiver refuses the genuine SET with invalid_key (400): the transmitter is
 * told the SET is bad, does not retry, and the session revocation it carried is never applied.
 */
import t from 'tap';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { AUDIENCE, CAEP, fakeFleet, push, serve } from './helpers/ssf';

t.test('a SET without kid verifies against a JWKS of two keys without kids', async (t) => {
  const jose = await import('jose');
  const keys = await Promise.all([jose.generateKeyPair('ES256'), jose.generateKeyPair('ES256')]);
  const jwks = { keys: await Promise.all(keys.map(({ publicKey }) => jose.exportJWK(publicKey))) };
  const fleet = fakeFleet();
  const receiver = ssfReceiver({ issuer: 'https://idp.test', audience: AUDIENCE, jwks, fleet });
  const url = await serve(t, receiver.handler);
  const token = await new jose.SignJWT({
    jti: 'rotation-1',
    sub_id: { format: 'email', email: 'bob@example.com' },
    events: { [`${CAEP}session-revoked`]: {} },
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'secevent+jwt' })
    .setIssuer('https://idp.test')
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .sign(keys[1]!.privateKey); // the new key, second in the set
  const answer = await push(url, token);
  t.equal(answer.status, 202, `accepted (got ${answer.status} ${answer.body})`);
  t.equal(fleet.calls.length, 1, 'the revocation is applied');
});
