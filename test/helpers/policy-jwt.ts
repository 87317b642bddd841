/** Signing keys and tokens for the REST JWT tests. */
// jose 6 is ESM-only: load it with import() (a static import type-checks as a CommonJS require).
import type { JWK } from 'jose' with { 'resolution-mode': 'import' };

export interface Signer {
  publicJwk: JWK;
  sign(
    claims: Record<string, unknown>,
    opts?: { expiresIn?: string | number; issuer?: string; noExp?: boolean },
  ): Promise<string>;
}

export async function makeSigner(kid = 'k1'): Promise<Signer> {
  const { SignJWT, exportJWK, generateKeyPair } = await import('jose');
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return {
    publicJwk,
    async sign(claims, opts = {}) {
      let jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid })
        .setIssuedAt()
        .setIssuer(opts.issuer ?? 'https://issuer.test')
        .setAudience('api');
      if (!opts.noExp) jwt = jwt.setExpirationTime(opts.expiresIn ?? '2m');
      return jwt.sign(privateKey);
    },
  };
}

/**
 * What an attacker holding only a public key gets when an app configured `keys` with it: the
 * verifier is refused at construction ('refused'), or the status of an HS256 token for `sub: admin`
 * HMAC-signed with `secret` (the key's bytes as the attacker rebuilds them).
 */
export async function hs256Forgery(keys: unknown, secret: Uint8Array | string): Promise<string> {
  const { TokenVerifier } = await import('../../dist/http/token.js');
  let verifier: InstanceType<typeof TokenVerifier>;
  try {
    verifier = new TokenVerifier({ keys: keys as never, audience: 'api' });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_CTLS_INVALID_OPTION') return 'refused';
    throw error;
  }
  const { createHmac } = await import('node:crypto');
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = { sub: 'admin', aud: 'api', exp: Math.floor(Date.now() / 1000) + 300 };
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  const forged = `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
  return (await verifier.verify(`Bearer ${forged}`)).status;
}
