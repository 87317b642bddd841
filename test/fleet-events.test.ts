/**
 * Fleet events are checked and normalised before they reach the feed: serials to one spelling,
 * issuers to node's, only known members kept, and anything malformed refused with a code.
 */
import t from 'tap';
import {
  affectedKeys,
  checkEvent,
  issuerFromRfc2253,
  normalizeIssuer,
  normalizeSerial,
  splitCrls,
  stateOps,
  expiryOf,
} from '../dist/fleet/events.js';
import { certs } from './helpers/certs';

t.test('serials: upper-case hex without colons, spaces or leading zeros, keeping a sign', async (t) => {
  t.equal(normalizeSerial('00:0a:bC'), 'ABC');
  t.equal(normalizeSerial('-00:05'), '-5');
  t.equal(normalizeSerial('-0'), '0');
  t.equal(normalizeSerial('0a bc'), 'ABC');
  t.equal(normalizeSerial('000'), '0');
  t.equal(normalizeSerial('7F'), '7F');
  for (const bad of ['', ':', '-', '--1', '1-', 'xyz', '0x12', 'A'.repeat(129)])
    t.equal(normalizeSerial(bad), undefined, bad);
});

t.test("issuers: node's multi-line form, trimmed; OpenSSL's slash form and RFC 2253 read the same", async (t) => {
  const node = 'C=SE\nO=Example AB\nCN=Example CA';
  t.equal(normalizeIssuer(' C = SE \r\nO=Example AB\nCN=Example CA\n'), node);
  t.equal(normalizeIssuer('/C=SE/O=Example AB/CN=Example CA'), node);
  t.equal(issuerFromRfc2253('CN=Example CA,O=Example AB,C=SE'), node);
  // The canonical form keeps RFC 4514 escapes, as node's X509Certificate#issuer prints them.
  t.equal(issuerFromRfc2253('CN=Comma\\, Inc CA,C=SE'), 'C=SE\nCN=Comma\\, Inc CA');
  t.equal(normalizeIssuer('C=SE\nCN=Comma\\, Inc CA'), 'C=SE\nCN=Comma\\, Inc CA');
  t.equal(
    normalizeIssuer('OU=x\\;y + O=A/B\\, Inc.\nCN=\\ lead'),
    issuerFromRfc2253('CN=\\ lead,O=A/B\\, Inc.+OU=x\\;y'),
  );
  t.equal(issuerFromRfc2253('CN=caf\\C3\\A9 100%'), 'CN=café 100%');
  t.equal(normalizeIssuer('CN=single'), 'CN=single');
});

t.test('events are normalised copies with only the members their type defines', async (t) => {
  t.same(checkEvent({ type: 'certificate-revoked', serial: '00:ab', issuer: 'CN=X\n', extra: 1 }), {
    type: 'certificate-revoked',
    serial: 'AB',
    issuer: 'CN=X',
  });
  const subject = { format: 'email', email: 'A@B.example' };
  t.same(checkEvent({ type: 'subject-revoked', subject, before: 5, reason: 'r' }), {
    type: 'subject-revoked',
    subject,
    before: 5,
    reason: 'r',
  });
  // A signals event is timed when it is checked for publication: `at` now, expiring a day later.
  t.same(checkEvent({ type: 'signals', subject, signals: { device: { compliant: false } }, at: 5 }), {
    type: 'signals',
    subject,
    signals: { device: { compliant: false } },
    at: 5,
    expiresAt: 5 + 24 * 60 * 60 * 1000,
  });
  t.same(checkEvent({ type: 'policy-invalidated' }), { type: 'policy-invalidated' });
  t.same(checkEvent({ type: 'crl', pem: certs.crl }), { type: 'crl', pem: certs.crl });
});

t.test('malformed events are refused with a code, never passed on', async (t) => {
  const bad = (event: unknown, code = 'ERR_CTLS_FLEET_BAD_EVENT'): void => {
    t.throws(() => checkEvent(event), { code }, String((event as { type?: unknown } | null)?.type));
  };
  bad(null);
  bad([]);
  bad('certificate-revoked');
  bad({ type: 'nope' });
  bad({ type: 'certificate-revoked' });
  bad({ type: 'certificate-revoked', serial: 'zz' });
  bad({ type: 'certificate-revoked', serial: 'AB', issuer: 5 });
  bad({ type: 'certificate-revoked', serial: 'AB', reason: 'x'.repeat(2000) });
  bad({ type: 'certificate-revoked', serial: 'AB', expiresAt: Infinity });
  bad({ type: 'subject-revoked', subject: { format: 'email', email: 'a@b' } });
  bad({ type: 'subject-revoked', subject: { format: 'email', email: 'a@b' }, before: '1' });
  bad({ type: 'subject-revoked', subject: { format: 'mystery' }, before: 1 }, 'ERR_CTLS_BAD_SUBJECT');
  bad({ type: 'subject-revoked', subject: { format: 'email' }, before: 1 }, 'ERR_CTLS_BAD_SUBJECT');
  bad({ type: 'signals', subject: { format: 'email', email: 'a@b' }, signals: [] });
  bad({ type: 'signals', subject: { format: 'email', email: 'a@b' }, signals: { big: 'x'.repeat(20_000) } });
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  bad({ type: 'signals', subject: { format: 'email', email: 'a@b' }, signals: cyclic });
  const many = Array.from({ length: 65 }, (_, i) => ({ format: 'opaque', id: String(i) }));
  bad({ type: 'subject-revoked', subject: { format: 'aliases', identifiers: many }, before: 1 });
  t.ok(checkEvent({ type: 'subject-revoked', subject: { format: 'aliases', identifiers: many.slice(1) }, before: 1 }));
  bad({ type: 'crl' });
  bad({ type: 'crl', pem: 'not a crl' }, 'ERR_CTLS_BAD_PEM');
  bad({ type: 'crl', pem: '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n' }, 'ERR_CTLS_BAD_PEM');
  bad({ type: 'policy-invalidated', reason: {} });
});

t.test('a CRL bundle is one CRL per issuer, named as node names the certificates it revokes', async (t) => {
  const crls = splitCrls(certs.crl);
  t.same(
    crls.map((crl) => crl.issuer),
    ['CN=continuous-tls test intermediate CA', 'CN=continuous-tls test root CA'],
  );
  t.ok(crls.every((crl) => crl.pem.startsWith('-----BEGIN X509 CRL-----') && crl.lastUpdate > 0));
});

t.test('state operations and affected keys', async (t) => {
  // Each revocation and signals event ends with a sweep of every hash whose entries expire.
  const sweep = ['serials', 'subjects', 'signals'].map((hash) => ({ hash, field: '', value: '', rule: 'expire' }));
  t.same(stateOps({ type: 'certificate-revoked', serial: 'AB', issuer: 'CN=X' }), [
    { hash: 'serials', field: 'AB|CN=X', value: '8640000000000000\n["AB","CN=X"]', rule: 'max' },
    ...sweep,
  ]);
  const subject = { format: 'aliases' as const, identifiers: [{ format: 'email' as const, email: 'A@x' }] };
  t.same(stateOps({ type: 'subject-revoked', subject, before: 7, expiresAt: 9 }), [
    { hash: 'subjects', field: '["email:a@x",9]', value: '7', rule: 'max' },
    ...sweep,
  ]);
  t.same(stateOps({ type: 'signals', subject, signals: { a: 1 }, at: 1, expiresAt: 2 }).slice(-3), sweep);
  t.equal(expiryOf('serials', 'AB|', '8640000000000000\n["AB"]'), 8_640_000_000_000_000, 'no expiresAt: never');
  t.equal(expiryOf('subjects', '["email:a@x",9]', '7'), 9);
  t.ok(Number.isNaN(expiryOf('subjects', '["email:a@x",null]', '7')), 'no expiresAt: never');
  t.ok(Number.isNaN(expiryOf('crls', 'CN=X', '1\n-----BEGIN X509 CRL-----')), 'a CRL is replaced, not expired');
  t.same(affectedKeys({ type: 'certificate-revoked', serial: 'AB' }), ['serial:AB']);
  t.same(affectedKeys({ type: 'signals', subject, signals: {} }), ['email:a@x']);
  t.same(stateOps({ type: 'policy-invalidated' }), []);
});
