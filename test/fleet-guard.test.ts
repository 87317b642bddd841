/**
 * The fleet's guard: what it denies (a revoked serial anywhere in the chain, issuer-scoped where the
 * revocation names an issuer; a subject revoked for a session of the peer's age; everything while a
 * strict fleet is stale), what signals it hands the policy, and the index keys it names.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import type { FleetEvent } from '../dist/fleet/types.js';
import type { GuardFacts } from '../dist/authz/guard.js';
import { certs } from './helpers/certs';
import { issueSubjectCerts } from './helpers/subject-certs';

const [alice, bob] = issueSubjectCerts([
  { cn: 'alice', san: 'email:Alice@Example.com,URI:spiffe://example.org/alice' },
  { cn: 'bob', san: 'email:bob@example.com' },
]);
const x = (pem: string): X509Certificate => new X509Certificate(pem);
const INTERMEDIATE = 'CN=continuous-tls test intermediate CA';
const ROOT = 'CN=continuous-tls test root CA';

function setup(options: { strict?: boolean; mapper?: ConstructorParameters<typeof FleetGuard>[2] } = {}) {
  const state = new FleetState();
  const staleness = { stale: false, strict: options.strict ?? true };
  const guard = new FleetGuard(state, staleness, options.mapper);
  // Applied at `now` on the member's clock (as a member prunes by it): by default before every instant
  // these tests judge at.
  const publish = (event: unknown, now = 0): void => {
    for (const op of stateOps(checkEvent(event))) state.apply(op, now);
    guard.bump();
  };
  return { state, staleness, guard, publish };
}

function peer(chain: string[], extra: Partial<GuardFacts> = {}): GuardFacts {
  return { chain: chain.map(x), token: undefined, connectionSince: 1_000, tier: 'owned', ...extra };
}

t.test('a revoked serial denies wherever it sits in the chain', async (t) => {
  const { guard, publish } = setup();
  const leaf = peer([alice!.cert, certs.intermediate]);
  t.same(guard.judge(leaf, 2_000), {});
  publish({ type: 'certificate-revoked', serial: x(certs.intermediate).serialNumber.toLowerCase() });
  t.same(guard.judge(leaf, 2_000), { deny: 'certificate-revoked' });
  t.same(guard.judge(peer([certs.clientWrongCaCert]), 2_000), {});
});

t.test(
  'an issuer-scoped revocation matches only that issuer; the serial is compared without leading zeros',
  async (t) => {
    const { guard, publish } = setup();
    const serial = x(alice!.cert).serialNumber;
    publish({ type: 'certificate-revoked', serial: `00:${serial}`, issuer: ROOT });
    t.same(guard.judge(peer([alice!.cert]), 2_000), {}, 'other issuer');
    publish({ type: 'certificate-revoked', serial, issuer: ` ${INTERMEDIATE} ` });
    t.same(guard.judge(peer([alice!.cert]), 2_000), { deny: 'certificate-revoked' });
    t.same(guard.judge(peer([bob!.cert]), 2_000), {});
  },
);

t.test('a revocation past its expiresAt is forgotten', async (t) => {
  const { guard, publish } = setup();
  publish({ type: 'certificate-revoked', serial: x(bob!.cert).serialNumber, expiresAt: 5_000 });
  t.same(guard.judge(peer([bob!.cert]), 4_999), { deny: 'certificate-revoked' });
  t.same(guard.judge(peer([bob!.cert]), 5_000), {});
});

t.test('a prune forgets only the revocations past their expiresAt', async (t) => {
  const { state, guard, publish } = setup();
  const serial = (pem: string): string => x(pem).serialNumber;
  const token = (sub: string): GuardFacts => peer([], { token: { iss: 'https://idp', sub, iat: 0 } });
  const subject = (sub: string): Record<string, unknown> => ({ format: 'iss_sub', iss: 'https://idp', sub });
  publish({ type: 'certificate-revoked', serial: serial(bob!.cert) });
  publish({ type: 'certificate-revoked', serial: serial(alice!.cert), expiresAt: 9_000 });
  publish({ type: 'certificate-revoked', serial: serial(certs.clientCert), expiresAt: 3_000 });
  publish({ type: 'subject-revoked', subject: subject('forever'), before: 1_000 });
  publish({ type: 'subject-revoked', subject: subject('later'), before: 1_000, expiresAt: 9_000 });
  publish({ type: 'subject-revoked', subject: subject('past'), before: 1_000, expiresAt: 3_000 });
  t.match(state.counts, { revokedSerials: 3, revokedSubjects: 3 });
  const sweep = (hash: string, now: number): boolean =>
    state.apply({ hash, field: '', value: '', rule: 'expire' } as Parameters<FleetState['apply']>[0], now);
  t.ok(sweep('serials', 5_000), 'serials pruned');
  t.ok(sweep('subjects', 5_000), 'subjects pruned');
  t.match(state.counts, { revokedSerials: 2, revokedSubjects: 2 }, 'only the expired ones are gone');
  for (const now of [5_000, 8_999]) {
    t.same(guard.judge(peer([bob!.cert]), now), { deny: 'certificate-revoked' }, 'no expiresAt: in force');
    t.same(guard.judge(peer([alice!.cert]), now), { deny: 'certificate-revoked' }, 'a later expiresAt: in force');
    t.same(guard.judge(token('forever'), now), { deny: 'subject-revoked' });
    t.same(guard.judge(token('later'), now), { deny: 'subject-revoked' });
  }
  t.same(guard.judge(peer([certs.clientCert]), 5_000), {});
  t.same(guard.judge(token('past'), 5_000), {});
  t.notOk(sweep('serials', 5_001), 'nothing expired since: no prune');
  t.notOk(sweep('serials', 10_000), 'at most once a minute');
  t.same(guard.judge(peer([alice!.cert]), 10_000), {}, 'expired, not yet pruned: denies nothing');
  t.ok(sweep('serials', 65_000));
  t.ok(sweep('subjects', 65_000));
  t.match(state.counts, { revokedSerials: 1, revokedSubjects: 1 });
  t.same(guard.judge(peer([bob!.cert]), 65_000), { deny: 'certificate-revoked' }, 'still in force');
  t.same(guard.judge(token('forever'), 65_000), { deny: 'subject-revoked' }, 'still in force');
});

t.test('a later revocation of the same serial with a nearer expiry does not shorten an earlier one', async (t) => {
  const { guard, publish } = setup();
  const serial = x(bob!.cert).serialNumber;
  publish({ type: 'certificate-revoked', serial, expiresAt: 9_000 });
  publish({ type: 'certificate-revoked', serial, expiresAt: 3_000 });
  t.same(guard.judge(peer([bob!.cert]), 5_000), { deny: 'certificate-revoked' });
});

t.test("a shared CRL's serials deny under that CRL's issuer only", async (t) => {
  const { guard, publish, state } = setup();
  publish({ type: 'crl', pem: certs.crl });
  t.same(guard.judge(peer([certs.clientRevokedCert, certs.intermediate]), 2_000), { deny: 'certificate-revoked' });
  t.same(guard.judge(peer([certs.clientCert, certs.intermediate]), 2_000), {});
  t.equal(state.crlPems().length, 2, 'latest CRL per issuer');
  // An older CRL of the same issuer does not replace a newer one; a newer one (empty) does.
  publish({ type: 'crl', pem: certs.crlEmpty });
  t.same(guard.judge(peer([certs.clientRevokedCert]), 2_000), {}, 'same lastUpdate: the later one wins');
  publish({ type: 'crl', pem: certs.crl });
  t.same(guard.judge(peer([certs.clientRevokedCert]), 2_000), { deny: 'certificate-revoked' });
});

/** The certificate's notBefore in epoch ms: a certificate identifier's session starts there. */
const issued = (pem: string): number => Date.parse(x(pem).validFrom);

t.test('a subject revocation refuses credentials issued before `before`', async (t) => {
  const { guard, publish } = setup();
  const aliceIssued = issued(alice!.cert);
  publish({
    type: 'subject-revoked',
    subject: { format: 'email', email: 'alice@EXAMPLE.com' },
    before: aliceIssued + 1,
  });
  const now = aliceIssued + 10_000;
  t.same(guard.judge(peer([alice!.cert], { connectionSince: 1_000 }), now), { deny: 'subject-revoked' });
  t.same(
    guard.judge(peer([alice!.cert], { connectionSince: now }), now),
    { deny: 'subject-revoked' },
    'a connection made after the revocation with the same certificate is refused too',
  );
  t.same(guard.judge(peer([bob!.cert], { connectionSince: 1_000 }), now), {});
  const { guard: later, publish: publishLater } = setup();
  publishLater({
    type: 'subject-revoked',
    subject: { format: 'email', email: 'alice@example.com' },
    before: aliceIssued,
  });
  t.same(later.judge(peer([alice!.cert]), now), {}, 'a certificate issued at `before` is admitted');
  // A token's session starts at its iat.
  const token = { iss: 'https://idp', sub: 'u1', email: 'alice@example.com', iat: 2 };
  const { guard: tokens, publish: publishTokens } = setup();
  publishTokens({ type: 'subject-revoked', subject: { format: 'email', email: 'alice@example.com' }, before: 1_500 });
  t.same(tokens.judge(peer([], { token, connectionSince: 0 }), 3_000), {}, 'iat 2000 ms is after before');
  t.same(tokens.judge(peer([], { token: { ...token, iat: 1 }, connectionSince: 9_000 }), 3_000), {
    deny: 'subject-revoked',
  });
  t.same(
    tokens.judge(peer([], { token: { email: 'alice@example.com' } }), 3_000),
    { deny: 'subject-revoked' },
    'no iat',
  );
  publishTokens({
    type: 'subject-revoked',
    subject: { format: 'iss_sub', iss: 'https://idp', sub: 'u2' },
    before: 9,
    expiresAt: 10,
  });
  t.same(tokens.judge(peer([], { token: { iss: 'https://idp', sub: 'u2', iat: 0 } }), 9), { deny: 'subject-revoked' });
  t.same(tokens.judge(peer([], { token: { iss: 'https://idp', sub: 'u2', iat: 0 } }), 10), {}, 'expired');
});

t.test('revocations with different expiries of one subject are kept apart', async (t) => {
  const { guard, publish } = setup();
  const subject = { format: 'uri', uri: 'spiffe://example.org/alice' };
  const token = (iat: number): Record<string, unknown> => ({ iss: 'https://idp', sub: 'u9', iat });
  const tokenSubject = { format: 'iss_sub', iss: 'https://idp', sub: 'u9' };
  publish({ type: 'subject-revoked', subject: tokenSubject, before: 1_100 });
  publish({ type: 'subject-revoked', subject: tokenSubject, before: 5_000, expiresAt: 3_000 });
  t.same(guard.judge(peer([], { token: token(2) }), 2_500), { deny: 'subject-revoked' });
  t.same(guard.judge(peer([], { token: token(2) }), 3_000), {}, 'the later, shorter one lapsed');
  t.same(guard.judge(peer([], { token: token(1) }), 3_000), { deny: 'subject-revoked' });
  publish({ type: 'subject-revoked', subject: tokenSubject, before: 500 });
  t.same(guard.judge(peer([], { token: token(1) }), 3_000), { deny: 'subject-revoked' }, 'never shortened');
  publish({ type: 'subject-revoked', subject, before: issued(alice!.cert) + 1 });
  t.same(guard.judge(peer([alice!.cert]), 3_000), { deny: 'subject-revoked' }, 'URI SAN identifiers too');
});

t.test("signals of every identifier the peer carries merge; a later signal replaces that name's value", async (t) => {
  const { guard, publish } = setup();
  publish({ type: 'signals', subject: { format: 'email', email: 'alice@example.com' }, signals: { level: 1, a: 'x' } });
  publish({
    type: 'signals',
    subject: { format: 'uri', uri: 'spiffe://example.org/alice' },
    signals: { device: 'ok' },
  });
  publish({ type: 'signals', subject: { format: 'email', email: 'alice@example.com' }, signals: { level: 2 } });
  t.same(guard.judge(peer([alice!.cert]), 2_000), { signals: { level: 2, a: 'x', device: 'ok' } });
  t.same(guard.judge(peer([bob!.cert]), 2_000), {});
});

t.test('keys: every chain serial and every identifier', async (t) => {
  const { guard } = setup();
  const leaf = x(alice!.cert);
  t.same(guard.keys(peer([alice!.cert, certs.intermediate], { token: { iss: 'i', sub: 's' } })), [
    `serial:${leaf.serialNumber.replace(/^0+/, '')}`,
    `serial:${x(certs.intermediate).serialNumber.replace(/^0+/, '')}`,
    'email:alice@example.com',
    'uri:spiffe://example.org/alice',
    'iss_sub:1:i|s',
  ]);
});

t.test('a custom subject mapper names identifiers and their session start', async (t) => {
  const { guard, publish } = setup({
    mapper: (facts) => [
      { format: 'opaque', id: facts.chain[0]?.subject ?? 'none' },
      { subject: { format: 'opaque', id: 'tenant-7' }, since: 50 },
    ],
  });
  publish({ type: 'subject-revoked', subject: { format: 'opaque', id: 'tenant-7' }, before: 60 });
  t.same(guard.judge(peer([bob!.cert], { connectionSince: 100 }), 200), { deny: 'subject-revoked' });
  t.same(guard.keys(peer([bob!.cert])).slice(1), ['opaque:CN=bob', 'opaque:tenant-7']);
});

t.test('staleness: strict denies everything with ERR_CTLS_FLEET_STALE, best-effort does not', async (t) => {
  const strict = setup();
  strict.staleness.stale = true;
  t.match(strict.guard.judge(peer([bob!.cert]), 1), { deny: 'fleet-stale', error: { code: 'ERR_CTLS_FLEET_STALE' } });
  const lax = setup({ strict: false });
  lax.staleness.stale = true;
  t.same(lax.guard.judge(peer([bob!.cert]), 1), {});
});

t.test('the generation grows with every applied change', async (t) => {
  const { guard, publish } = setup();
  const before = guard.generation;
  publish({ type: 'policy-invalidated' });
  t.ok(guard.generation > before);
});

t.test('100,000 revoked serials cost a judgement what 10 do', async (t) => {
  const small = setup();
  const large = setup();
  for (let i = 0; i < 10; i++) small.publish({ type: 'certificate-revoked', serial: (i + 1).toString(16) });
  for (let i = 0; i < 100_000; i++) {
    const event = {
      type: 'certificate-revoked',
      serial: (i + 1).toString(16),
      issuer: i % 2 ? INTERMEDIATE : undefined,
    };
    for (const op of stateOps(event as FleetEvent)) large.state.apply(op);
  }
  const facts = peer([alice!.cert, certs.intermediate]);
  const time = (guard: FleetGuard): number => {
    let best = Infinity;
    for (let round = 0; round < 3; round++) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < 20_000; i++) guard.judge(facts, 2_000);
      best = Math.min(best, Number(process.hrtime.bigint() - start));
    }
    return best;
  };
  time(small.guard);
  const [a, b] = [time(small.guard), time(large.guard)];
  t.ok(b < a * 3, `100,000 entries: ${(b / 20_000).toFixed(0)} ns, 10 entries: ${(a / 20_000).toFixed(0)} ns`);
});
