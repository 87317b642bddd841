/** Signing keys and tokens for the REST JWT tests. */
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';

export interface Signer {
  publicJwk: JWK;
  sign(claims: Record<string, unknown>, opts?: { expiresIn?: string | number; issuer?: string; noExp?: boolean }): Promise<string>;
}

export async function makeSigner(kid = 'k1'): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return {
    publicJwk,
    async sign(claims, opts = {}) {
      let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).setIssuedAt().setIssuer(opts.issuer ?? 'https://issuer.test').setAudience('api');
      if (!opts.noExp) jwt = jwt.setExpirationTime(opts.expiresIn ?? '2m');
      return jwt.sign(privateKey);
    },
  };
}
