// jwt.clockToleranceSec loosens `exp` for the whole request: a token the verifier accepts inside
// the tolerance is not then denied as decision-expired; past it, the token is refused.
import t from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { client, startHttps } from './helpers/policy-https';

const secret = 'a-shared-secret-of-enough-length-000';

async function token(expiresAtSec: number): Promise<string> {
  const { SignJWT } = await import('jose');
  return new SignJWT({ sub: 'u' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt(expiresAtSec - 60)
    .setExpirationTime(expiresAtSec)
    .sign(new TextEncoder().encode(secret));
}

t.test('a token just past exp, inside the tolerance, is served; past the tolerance, refused', async (t) => {
  const authz = authorizeRequest({
    policy: (input) => input.token?.['sub'] === 'u',
    exposeReason: true,
    jwt: { keys: secret, clockToleranceSec: 30 },
  });
  const get = client(
    t,
    await startHttps(
      t,
      authz.node((_req, res) => res.end('ok')),
    ),
    'none',
  );
  const now = Math.floor(Date.now() / 1000);
  const inside = await get('GET', '/', { authorization: `Bearer ${await token(now - 5)}` });
  t.equal(inside.status, 200, `5 s past exp with 30 s tolerance: ${inside.body}`);
  const outside = await get('GET', '/', { authorization: `Bearer ${await token(now - 120)}` });
  t.equal(outside.status, 401, '120 s past exp: refused');
});

t.test('without tolerance, a token past exp is refused', async (t) => {
  const authz = authorizeRequest({ policy: () => true, jwt: { keys: secret } });
  const get = client(
    t,
    await startHttps(
      t,
      authz.node((_req, res) => res.end('ok')),
    ),
    'none',
  );
  const now = Math.floor(Date.now() / 1000);
  t.equal((await get('GET', '/', { authorization: `Bearer ${await token(now - 5)}` })).status, 401);
});

t.test('the tolerance is bounded: it cannot switch off exp', async (t) => {
  for (const bad of [Infinity, 301, -1, NaN])
    t.throws(() => authorizeRequest({ policy: () => true, jwt: { keys: secret, clockToleranceSec: bad } }), {
      code: 'ERR_CTLS_INVALID_OPTION',
    });
  t.doesNotThrow(() => authorizeRequest({ policy: () => true, jwt: { keys: secret, clockToleranceSec: 300 } }));
});
