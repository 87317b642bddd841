// The transmitter's keys: a JWKS endpoint read with a byte limit, cached, fetched again (at most once
// per cooldown) when a key was rotated in; a SET without kid tried against every key that fits.
import t from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SetVerifier } from '../dist/fleet/ssf/set-verify.js';
import { AUDIENCE, CAEP, serve } from './helpers/ssf';

const ISSUER = 'https://idp.test';

async function keyPair() {
  const jose = await import('jose');
  const pair = await jose.generateKeyPair('ES256');
  return { ...pair, jwk: await jose.exportJWK(pair.publicKey) };
}

async function sign(
  privateKey: Awaited<ReturnType<typeof keyPair>>['privateKey'],
  jti: string,
  kid?: string,
): Promise<string> {
  const jose = await import('jose');
  return new jose.SignJWT({
    jti,
    sub_id: { format: 'email', email: 'bob@example.com' },
    events: { [`${CAEP}session-revoked`]: {} },
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'secevent+jwt', ...(kid === undefined ? {} : { kid }) })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .sign(privateKey);
}

/** A JWKS endpoint serving `body()`, counting its requests. */
async function jwksServer(t: Parameters<typeof serve>[0], body: () => string) {
  const served = { requests: 0, url: '' };
  served.url = await serve(t, (_req: IncomingMessage, res: ServerResponse) => {
    served.requests++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body());
  });
  return served;
}

t.test('a JWKS answer larger than jwksMaxBytes is not read', async (t) => {
  const { jwk, privateKey } = await keyPair();
  const padded = JSON.stringify({ keys: [jwk], padding: 'x'.repeat(100_000) });
  const endpoint = await jwksServer(t, () => padded);
  const verifier = new SetVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: endpoint.url });
  await t.rejects(verifier.verify(await sign(privateKey, 'big')), {
    code: 'ERR_CTLS_SSF_TRANSMITTER',
    message: /larger than 65536 bytes/,
  });
  const roomy = new SetVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: endpoint.url, jwksMaxBytes: 200_000 });
  t.equal((await roomy.verify(await sign(privateKey, 'big'))).claims.jti, 'big', 'within a larger limit it is read');
  t.throws(() => new SetVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: endpoint.url, jwksMaxBytes: -1 }), {
    code: 'ERR_CTLS_INVALID_OPTION',
  });
});

t.test('JWKS keys are cached, and a rotated-in key is fetched at most once per cooldown', async (t) => {
  const first = await keyPair();
  const second = await keyPair();
  let keys = [first.jwk];
  const endpoint = await jwksServer(t, () => JSON.stringify({ keys }));
  const verifier = new SetVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: endpoint.url, jwksCooldown: 300 });
  await verifier.verify(await sign(first.privateKey, 'a'));
  await verifier.verify(await sign(first.privateKey, 'b'));
  t.equal(endpoint.requests, 1, 'one fetch for two SETs');
  keys = [first.jwk, second.jwk]; // the transmitter rotates a key in (no kids: a SET matches both)
  await t.rejects(
    verifier.verify(await sign(second.privateKey, 'c')),
    { code: 'ERR_CTLS_SET_INVALID', ssfError: 'invalid_key' },
    'cooling down',
  );
  t.equal(endpoint.requests, 1, 'no fetch within the cooldown');
  await new Promise((resolve) => setTimeout(resolve, 350));
  t.equal((await verifier.verify(await sign(second.privateKey, 'd'))).claims.jti, 'd', 'the new key, fetched');
  t.equal(endpoint.requests, 2);
  const stranger = await keyPair();
  await new Promise((resolve) => setTimeout(resolve, 350));
  await t.rejects(verifier.verify(await sign(stranger.privateKey, 'e')), {
    code: 'ERR_CTLS_SET_INVALID',
    ssfError: 'invalid_key',
  });
  await t.rejects(verifier.verify(await sign(stranger.privateKey, 'f')), {
    code: 'ERR_CTLS_SET_INVALID',
    ssfError: 'invalid_key',
  });
  t.equal(endpoint.requests, 3, 'a flood of bad SETs costs one fetch per cooldown');
});

t.test('a SET without kid: every key that fits is tried, and none verifying is invalid_key', async (t) => {
  const pairs = await Promise.all([keyPair(), keyPair(), keyPair()]);
  const jwks = { keys: pairs.slice(0, 2).map((pair) => pair.jwk) };
  const verifier = new SetVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks });
  for (const [i, pair] of pairs.slice(0, 2).entries())
    t.equal((await verifier.verify(await sign(pair.privateKey, `k${i}`))).claims.jti, `k${i}`);
  await t.rejects(verifier.verify(await sign(pairs[2]!.privateKey, 'k2')), {
    code: 'ERR_CTLS_SET_INVALID',
    ssfError: 'invalid_key',
  });
  const remote = await jwksServer(t, () => JSON.stringify(jwks));
  const fetched = new SetVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: remote.url });
  t.equal((await fetched.verify(await sign(pairs[1]!.privateKey, 'r1'))).claims.jti, 'r1', 'from a JWKS endpoint too');
});

t.test('a JWK Set is bounded in keys', async (t) => {
  const { jwk, privateKey } = await keyPair();
  const many = { keys: Array.from({ length: 33 }, () => jwk) };
  t.throws(() => new SetVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: many }), {
    code: 'ERR_CTLS_INVALID_OPTION',
  });
  const endpoint = await jwksServer(t, () => JSON.stringify(many));
  const verifier = new SetVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: endpoint.url });
  await t.rejects(verifier.verify(await sign(privateKey, 'many')), {
    code: 'ERR_CTLS_SSF_TRANSMITTER',
    message: /more than 32 keys/,
  });
});
