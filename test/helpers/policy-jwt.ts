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
