// SET verification at the push endpoint: each way a SET or its delivery can be wrong gets the RFC 8935
// error code and HTTP status it should, applies nothing, and only the untouched SET is ever accepted.
import net from 'node:net';
import fc from 'fast-check';
import t from 'tap';
// jose 6 is ESM-only: loaded with import() (a static import type-checks as a CommonJS require).
import type * as Jose from 'jose' with { 'resolution-mode': 'import' };
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { AUDIENCE, CAEP, fakeFleet, push, serve } from './helpers/ssf';

const ISSUER = 'https://idp.test';
const subject = { format: 'email', email: 'alice@example.com' };
let jose: typeof Jose;
t.before(async () => {
  jose = await import('jose');
});

async function keyPair(kid: string) {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
  return { privateKey, kid, publicJwk: { ...(await jose.exportJWK(publicKey)), kid, alg: 'ES256' } };
}

t.test('the verification matrix', async (t) => {
  const trusted = await keyPair('trusted');
  const other = await keyPair('other');
  const fleet = fakeFleet();
  const receiver = ssfReceiver({ issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [trusted.publicJwk] }, fleet });
  const url = await serve(t, receiver.handler);
  const now = Math.floor(Date.now() / 1000);
  let n = 0;
  const claims = (over: Record<string, unknown> = {}) => ({
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now,
    jti: `jti-${++n}`,
    sub_id: subject,
    events: { [`${CAEP}session-revoked`]: { event_timestamp: now } },
    ...over,
  });
  const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = {}, key = trusted) =>
    new jose.SignJWT(payload)
      .setProtectedHeader({ alg: 'ES256', typ: 'secevent+jwt', kid: key.kid, ...header } as Jose.JWTHeaderParameters)
      .sign(key.privateKey);
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const without = (name: string) => {
    const c: Record<string, unknown> = claims();
    delete c[name];
    return c;
  };
  const good = await sign(claims());
  const [h, p, s] = good.split('.') as [string, string, string];
  const flipped = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
  const hmacSecret = new TextEncoder().encode(JSON.stringify(trusted.publicJwk));
  const hmac = await new jose.SignJWT(claims())
    .setProtectedHeader({ alg: 'HS256', typ: 'secevent+jwt', kid: 'trusted' })
    .sign(hmacSecret);

  const cases: Array<[string, string | Promise<string>, number, string]> = [
    ['bad signature', flipped, 400, 'invalid_key'],
    ['key not in the JWKS', sign(claims(), {}, other), 400, 'invalid_key'],
    [
      "another key under the trusted key's kid",
      sign(claims(), { kid: 'trusted' }, { ...other, kid: 'trusted' }),
      400,
      'invalid_key',
    ],
    ['wrong issuer', sign(claims({ iss: 'https://evil.test' })), 400, 'invalid_issuer'],
    ['no issuer', sign(without('iss')), 400, 'invalid_request'],
    ['wrong audience', sign(claims({ aud: 'https://other.test/' })), 400, 'invalid_audience'],
    ['audience list without ours', sign(claims({ aud: ['a', 'b'] })), 400, 'invalid_audience'],
    ['no audience', sign(without('aud')), 400, 'invalid_request'],
    // Late revocations are applied (a refusal would have the transmitter drop them); anything else late is refused.
    [
      'iat too old, a signal',
      sign(
        claims({
          iat: now - 600,
          events: {
            [`${CAEP}device-compliance-change`]: {
              current_status: 'compliant',
              previous_status: 'not-compliant',
              event_timestamp: now - 600,
            },
          },
        }),
      ),
      400,
      'invalid_request',
    ],
    ['iat in the future', sign(claims({ iat: now + 600 })), 400, 'invalid_request'],
    ['no iat', sign(without('iat')), 400, 'invalid_request'],
    ['no jti', sign(without('jti')), 400, 'invalid_request'],
    ['no events', sign(without('events')), 400, 'invalid_request'],
    ['empty events', sign(claims({ events: {} })), 400, 'invalid_request'],
    [
      'event payload not an object',
      sign(claims({ events: { [`${CAEP}session-revoked`]: 'x' } })),
      400,
      'invalid_request',
    ],
    ['typ JWT', sign(claims(), { typ: 'JWT' }), 400, 'invalid_request'],
    ['no typ', sign(claims(), { typ: undefined }), 400, 'invalid_request'],
    ['alg none', `${b64({ alg: 'none', typ: 'secevent+jwt' })}.${b64(claims())}.`, 400, 'invalid_key'],
    ['HMAC keyed with the public JWK', hmac, 400, 'invalid_key'],
    ['not a JWT', 'hello', 400, 'invalid_request'],
    ['five segments (JWE shape)', `${h}.${p}.${s}.x.y`, 400, 'invalid_request'],
    ['bad subject', sign(claims({ sub_id: { format: 'email' } })), 400, 'invalid_request'],
    ['no subject', sign(without('sub_id')), 400, 'invalid_request'],
  ];
  for (const [name, token, status, err] of cases) {
    const answer = await push(url, await token);
    t.equal(answer.status, status, `${name}: status`);
    t.equal(answer.json?.['err'], err, `${name}: err`);
    t.type(answer.json?.['description'], 'string', `${name}: description`);
  }
  t.same(fleet.calls, [], 'no refused SET reached the fleet');

  for (const [name, token] of [
    ['good', good],
    ['typ application/secevent+jwt', await sign(claims(), { typ: 'application/SecEvent+JWT' })],
    ['audience list with ours', await sign(claims({ aud: ['x', AUDIENCE] }))],
    ['iat within the clock tolerance ahead', await sign(claims({ iat: now + 10 }))],
  ] as const) {
    const answer = await push(url, token);
    t.equal(answer.status, 202, `${name}: accepted`);
    t.equal(answer.body, '', `${name}: empty body`);
  }
  t.equal(fleet.calls.length, 4, 'each accepted SET applied once');
});

t.test('what the HTTP exchange itself gets wrong', async (t) => {
  const trusted = await keyPair('trusted');
  const fleet = fakeFleet();
  const receiver = ssfReceiver({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwks: { keys: [trusted.publicJwk] },
    fleet,
    bodyTimeout: 300,
  });
  const url = await serve(t, receiver.handler);
  const token = await new jose.SignJWT({ sub_id: subject, events: { [`${CAEP}session-revoked`]: {} } })
    .setProtectedHeader({ alg: 'ES256', typ: 'secevent+jwt', kid: 'trusted' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setJti('once')
    .sign(trusted.privateKey);

  const big = await push(url, 'a'.repeat(70_000));
  t.equal(big.status, 413);
  t.equal(big.json?.['err'], 'invalid_request');
  const json = await push(url, token, { 'content-type': 'application/json' });
  t.equal(json.status, 415);
  t.equal(json.json?.['err'], 'invalid_request');
  const none = await push(url, token, {});
  t.equal(none.status, 415, 'no content type');
  const get = await fetch(url);
  t.equal(get.status, 405);
  t.equal(get.headers.get('allow'), 'POST');
  const withParams = await push(url, token, { 'content-type': 'Application/SecEvent+JWT; charset=utf-8' });
  t.equal(withParams.status, 202, 'media type compared case-insensitively, parameters ignored');

  // A body that never finishes: answered 408 after bodyTimeout, connection closed.
  const { port } = new URL(url);
  const slow = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => {
      socket.write(
        'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/secevent+jwt\r\nContent-Length: 1000\r\n\r\nabc',
      );
    });
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
    setTimeout(() => reject(new Error('no answer')), 5_000).unref();
  });
  t.match(slow, /^HTTP\/1\.1 408/);
  t.match(slow, /"err":"invalid_request"/);
  t.equal(fleet.calls.length, 1, 'only the one good SET applied');
});

t.test('authenticating the transmitter', async (t) => {
  const trusted = await keyPair('trusted');
  const mint = (jti: string) =>
    new jose.SignJWT({ sub_id: subject, events: { [`${CAEP}session-revoked`]: {} } })
      .setProtectedHeader({ alg: 'ES256', typ: 'secevent+jwt', kid: 'trusted' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setJti(jti)
      .sign(trusted.privateKey);
  const fleet = fakeFleet();
  const base = { issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [trusted.publicJwk] }, fleet };
  const url = await serve(t, ssfReceiver({ ...base, authorization: 'Bearer s3cret' }).handler);
  const type = { 'content-type': 'application/secevent+jwt' };
  for (const [name, headers] of [
    ['missing', type],
    ['wrong', { ...type, authorization: 'Bearer nope' }],
    ['other scheme', { ...type, authorization: 'Basic czNjcmV0' }],
  ] as const) {
    const answer = await push(url, await mint(name), headers);
    t.equal(answer.status, 401, `${name}: 401`);
    t.equal(answer.json?.['err'], 'authentication_failed', `${name}: authentication_failed`);
    t.equal(fleet.calls.length, 0, `${name}: nothing applied`);
  }
  t.equal((await push(url, await mint('right'), { ...type, authorization: 'Bearer s3cret' })).status, 202);

  const seen: Array<string | undefined> = [];
  const decide = (header: string | undefined) => {
    seen.push(header);
    if (header === 'throw') throw new Error('boom');
    return header === 'Token ok';
  };
  const url2 = await serve(t, ssfReceiver({ ...base, authorization: decide }).handler);
  t.equal((await push(url2, await mint('f1'), { ...type, authorization: 'Token no' })).status, 401);
  t.equal(
    (await push(url2, await mint('f2'), { ...type, authorization: 'throw' })).status,
    401,
    'a throwing check refuses',
  );
  t.equal((await push(url2, await mint('f3'), { ...type, authorization: 'Token ok' })).status, 202);
  t.same(seen, ['Token no', 'throw', 'Token ok']);
  t.equal(fleet.calls.length, 2);
});

t.test('verify() accepts the original SET and no mutation of it', async (t) => {
  const trusted = await keyPair('trusted');
  const receiver = ssfReceiver({ issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [trusted.publicJwk] } });
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now,
    jti: 'j',
    sub_id: subject,
    events: { [`${CAEP}session-revoked`]: {} },
  };
  const original = await new jose.SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', typ: 'secevent+jwt', kid: 'trusted' })
    .sign(trusted.privateKey);
  t.equal((await receiver.verify(original)).claims.jti, 'j');
  const [h, p, s] = original.split('.') as [string, string, string];
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=';
  const json = fc.oneof(
    fc.string(),
    fc.integer(),
    fc.constant(null),
    fc.boolean(),
    fc.array(fc.string(), { maxLength: 3 }),
  );
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
  const mutation = fc.oneof(
    // One character of the token replaced, inserted or removed.
    fc
      .tuple(fc.nat(original.length - 1), fc.constantFrom(...alphabet), fc.constantFrom('replace', 'insert', 'delete'))
      .map(
        ([at, ch, how]) =>
          original.slice(0, at) +
          (how === 'delete' ? '' : ch) +
          original.slice(how === 'replace' || how === 'delete' ? at + 1 : at),
      ),
    // A header member changed, the signature kept.
    fc
      .tuple(fc.constantFrom('alg', 'typ', 'kid', 'crit', 'jku', 'b64'), json)
      .map(
        ([name, value]) =>
          `${Buffer.from(JSON.stringify({ ...header, [name]: value })).toString('base64url')}.${p}.${s}`,
      ),
    // A claim changed, the signature kept.
    fc
      .tuple(fc.constantFrom('iss', 'aud', 'iat', 'jti', 'sub_id', 'events', 'exp', 'nbf'), json)
      .map(
        ([name, value]) =>
          `${h}.${Buffer.from(JSON.stringify({ ...payload, [name]: value })).toString('base64url')}.${s}`,
      ),
    // The last character of a segment re-spelt: some spellings decode to the same bytes.
    fc
      .tuple(fc.constantFrom(0, 1, 2), fc.constantFrom(...alphabet.slice(0, 64)))
      .map(([index, ch]) =>
        [h, p, s].map((segment, i) => (i === index ? segment.slice(0, -1) + ch : segment)).join('.'),
      ),
    // Signature bytes changed.
    fc
      .uint8Array({ minLength: 1, maxLength: 80 })
      .map((bytes) => `${h}.${p}.${Buffer.from(bytes).toString('base64url')}`),
  );
  await fc.assert(
    fc.asyncProperty(mutation, async (token) => {
      fc.pre(token !== original);
      try {
        await receiver.verify(token);
        return false;
      } catch (err) {
        return (err as { code?: string }).code === 'ERR_CTLS_SET_INVALID';
      }
    }),
    { numRuns: 400 },
  );
});

t.test("the transmitter's JWKS unreachable: not the SET's fault, 503 so the transmitter retries", async (t) => {
  const trusted = await keyPair('trusted');
  const fleet = fakeFleet();
  const receiver = ssfReceiver({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUrl: 'http://127.0.0.1:1/jwks.json',
    jwksTimeout: 1_000,
    fleet,
  });
  const url = await serve(t, receiver.handler);
  const token = await new jose.SignJWT({ sub_id: subject, events: { [`${CAEP}session-revoked`]: {} } })
    .setProtectedHeader({ alg: 'ES256', typ: 'secevent+jwt', kid: 'trusted' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setJti('k')
    .sign(trusted.privateKey);
  const answer = await push(url, token);
  t.equal(answer.status, 503);
  t.equal(answer.json?.['err'], undefined);
  await t.rejects(receiver.verify(token), { code: 'ERR_CTLS_SSF_TRANSMITTER' });
  t.same(fleet.calls, []);
});

t.test('options are checked', async (t) => {
  const trusted = await keyPair('trusted');
  const jwks = { keys: [trusted.publicJwk] };
  const base = { issuer: ISSUER, audience: AUDIENCE, jwks };
  const bad: Array<Record<string, unknown>> = [
    { ...base, issuer: '' },
    { ...base, audience: undefined },
    { issuer: ISSUER, audience: AUDIENCE },
    { ...base, jwksUrl: 'http://x/' },
    { ...base, jwks: { keys: 'x' } },
    { issuer: ISSUER, audience: AUDIENCE, jwksUrl: 'not a url' },
    { ...base, algorithms: ['HS256'] },
    { ...base, algorithms: ['none'] },
    { ...base, algorithms: [] },
    { ...base, maxAge: 0 },
    { ...base, clockTolerance: -1 },
    { ...base, fleet: {} },
    { ...base, authorization: '' },
    { ...base, maxBodyBytes: 1.5 },
  ];
  for (const options of bad) {
    t.throws(() => ssfReceiver(options as never), { code: 'ERR_CTLS_INVALID_OPTION' }, JSON.stringify(options));
  }
});
