/** AuthorizationInput builders for the policy tests. */
import { X509Certificate } from 'node:crypto';
import type { AuthorizationInput } from '../../dist/common/types.js';

export function makeInput(overrides: Partial<AuthorizationInput> = {}): AuthorizationInput {
  return {
    trigger: 'request',
    peer: { chain: [], verified: true },
    connection: { ageMs: 0, reauthCount: 0, remoteAddress: '127.0.0.1', protocol: 'TLSv1.3' },
    context: {},
    ...overrides,
  };
}

/** An input from a client certificate (PEM) doing `method path`. */
export function certInput(
  pem: string,
  method = 'GET',
  path = '/',
  extra: Partial<AuthorizationInput> = {},
): AuthorizationInput {
  const certificate = new X509Certificate(pem);
  return makeInput({
    peer: { certificate, chain: [certificate], verified: true },
    request: { method, path, headers: {} },
    ...extra,
  });
}

/** An input carrying verified token claims. */
export function tokenInput(claims: Record<string, unknown>, method = 'GET', path = '/'): AuthorizationInput {
  return makeInput({ token: claims, request: { method, path, headers: {} } });
}
