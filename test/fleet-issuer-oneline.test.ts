/**
 * Issuers in OpenSSL's one-line form (what `openssl x509 -issuer` prints) read as node's
 * X509Certificate#issuer does, quoted values and byte escapes included; a comma-separated name mixing
 * ' = ' and '=' could be read in either order and is refused.
 */
import t from 'tap';
import { checkEvent, normalizeIssuer } from '../dist/fleet/events.js';

t.test("OpenSSL's one-line form reads most general first, quotes and escapes decoded", async (t) => {
  t.equal(normalizeIssuer('C = US, O = Example, CN = Example CA'), 'C=US\nO=Example\nCN=Example CA');
  // As OpenSSL 3 prints C=US / O=Ex; "q"\b/x / a multi-valued RDN OU=u=v + CN=Exä CA.
  const printed = 'C = US, O = "Ex; \\"q\\"\\\\b/x", OU = u=v + CN = Ex\\C3\\A4 CA';
  const node = 'C=US\nO=Ex\\; \\"q\\"\\\\b/x\nOU=u=v + CN=Exä CA';
  t.equal(normalizeIssuer(printed), normalizeIssuer(node));
  // A quoted value keeps its spaces.
  t.equal(normalizeIssuer('C = US, O = "Ex, Inc. "'), normalizeIssuer('C=US\nO=Ex\\, Inc.\\ '));
  t.equal(normalizeIssuer('O = Example, CN = CA'), normalizeIssuer('CN=CA,O=Example'));
});

t.test('a name that mixes the one-line and the RFC 2253 spelling is refused', async (t) => {
  for (const issuer of ['CN = CA,O=Example', 'CN=CA, O = Example', 'O = Example, CN=CA'])
    t.throws(() => checkEvent({ type: 'certificate-revoked', serial: '01', issuer }), {
      code: 'ERR_CTLS_FLEET_BAD_EVENT',
    });
  t.same(checkEvent({ type: 'certificate-revoked', serial: '01', issuer: 'O = Example, CN = CA' }), {
    type: 'certificate-revoked',
    serial: '1',
    issuer: 'O=Example\nCN=CA',
  });
});
