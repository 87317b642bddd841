// The counterexamples the model-based property tests (test/property/owned-*.test.ts,
// attached-*.test.ts) shrank to, replayed as fixed sequences against the same reference model:
// one per class of fail-open, so each fix shows up here on its own. Identities: #0 alice by A's
// intermediate, #1 bob by root A, #2 carol by B's intermediate, #3 bob by root B.
import t from 'tap';
import {
  Connect,
  Detach,
  Expire,
  Fresh,
  Idle,
  Release,
  Resume,
  Revalidate,
  SetCa,
  SetPolicy,
  SetRevoked,
  fixedSetup,
  replaySequence,
} from '../helpers/model/commands';
import type { IdentitySpec, Tier } from '../helpers/model/world';

const ids: IdentitySpec[] = [
  { cn: 'alice', tenant: 'A', viaIntermediate: true, short: false },
  { cn: 'bob', tenant: 'A', viaIntermediate: false, short: false },
  { cn: 'carol', tenant: 'B', viaIntermediate: true, short: false },
  { cn: 'bob', tenant: 'B', viaIntermediate: false, short: false },
];
const name = ['#0 alice@A/int', '#1 bob@A/root', '#2 carol@B/int', '#3 bob@B/root'];
const connect = (
  id: number | null,
  options: {
    sni?: string;
    mode?: 'data' | 'readable' | 'pipe' | 'asyncIter' | 'http';
    pause?: boolean;
    concurrent?: boolean;
  } = {},
): Connect =>
  new Connect(
    id,
    id === null ? 'no-cert' : name[id]!,
    options.sni ?? 'localhost',
    options.mode ?? 'data',
    options.pause ?? false,
    options.concurrent ?? false,
  );
const revokeLeaf = (id: number, concurrent = false): SetRevoked =>
  new SetRevoked({ leaf: id, name: name[id]! }, true, concurrent);
const revokeIntermediate = (tenant: 'A' | 'B', concurrent = false): SetRevoked =>
  new SetRevoked({ intermediate: tenant }, true, concurrent);

const owned = (overrides = {}) => fixedSetup('owned', ids, overrides);
const attached = (tier: Tier, overrides = {}) => fixedSetup(tier, ids, overrides);

t.test('owned: an SNI tenant context trusts its own CA only', (t) =>
  replaySequence(t, owned({ sniTenants: true }), [connect(1, { sni: 'b.test' })]),
);

t.test('owned: a revoked intermediate cuts an established connection', (t) =>
  replaySequence(t, owned(), [connect(0), revokeIntermediate('A')]),
);

t.test('owned: a revoked intermediate refuses a fresh certificate', (t) =>
  replaySequence(t, owned(), [revokeIntermediate('B'), connect(1), new Fresh(0, 2, name[2]!, false)]),
);

t.test('owned: a certificate shown by step-up is revalidated when revoked', (t) =>
  replaySequence(t, owned({ mode: 'guest', policy: { kind: 'allowAll', slowMs: 0 } }), [
    connect(null),
    new Fresh(0, 1, name[1]!, false),
    revokeLeaf(1),
  ]),
);

t.test('owned: a handshake paused across setCrl is verified against the new CRL', (t) =>
  replaySequence(t, owned(), [connect(1, { pause: true }), revokeLeaf(1), new Release(0, false)]),
);

t.test('owned: a handshake paused across setCa is verified against the new CAs', (t) =>
  replaySequence(t, owned({ mode: 'guest', policy: { kind: 'allowAll', slowMs: 0 } }), [
    connect(3, { pause: true }),
    new SetCa(['A'], false),
    new Release(0, false),
  ]),
);

t.test('owned: setCa during a fresh re-authentication decides it with the new CAs', (t) =>
  replaySequence(t, owned({ mode: 'guest', policy: { kind: 'allowAll', slowMs: 40 } }), [
    connect(null),
    new Fresh(0, 1, name[1]!, true),
    new SetCa(['B'], true),
    new SetPolicy({ kind: 'allowAll', slowMs: 0 }, false),
  ]),
);

t.test('owned: setPolicy reaches a connection whose first decision is pending', (t) =>
  replaySequence(t, owned({ policy: { kind: 'allowAll', slowMs: 120 } }), [
    connect(1, { concurrent: true }),
    new Idle(60),
    new SetPolicy({ kind: 'denyAll', slowMs: 0 }, false),
  ]),
);

t.test('owned: setCrl reaches a connection whose first decision is pending', (t) =>
  replaySequence(t, owned({ policy: { kind: 'allowAll', slowMs: 120 } }), [
    connect(1, { concurrent: true }),
    new Idle(60),
    revokeLeaf(1),
  ]),
);

for (const mode of ['readable', 'pipe', 'asyncIter'] as const) {
  t.test(`attached node:tls: a '${mode}' reader gets nothing while a slow policy denies`, (t) =>
    replaySequence(t, attached('attached-tls', { policy: { kind: 'denyAll', slowMs: 40 } }), [
      connect(1, { mode, pause: true }),
      new Release(0, false),
    ]),
  );
}

t.test('attached node:tls: a revoked intermediate cuts an established connection', (t) =>
  replaySequence(t, attached('attached-tls'), [connect(0), revokeIntermediate('A')]),
);

t.test('attached node:https: no handler runs while a slow policy denies', (t) =>
  replaySequence(t, attached('attached-https', { policy: { kind: 'denyCn', cn: 'bob', slowMs: 120 } }), [
    connect(1, { mode: 'http', pause: true }),
    new Release(0, false),
  ]),
);

t.test('attached node:https: no handler runs before a denial lands', (t) =>
  replaySequence(t, attached('attached-https', { policy: { kind: 'denyAll', slowMs: 0 } }), [
    connect(0, { mode: 'http', pause: true }),
    new Release(0, false),
  ]),
);

t.test('attached node:https: a fresh re-check on TLS 1.2 renegotiates and keeps an allowed connection', (t) =>
  replaySequence(t, attached('attached-https', { version: 'TLSv1.2' }), [
    connect(0, { mode: 'http' }),
    new Fresh(0, null, null, false),
  ]),
);

t.test('attached node:tls: a fresh re-check on TLS 1.2 renegotiates and keeps an allowed connection', (t) =>
  replaySequence(t, attached('attached-tls', { version: 'TLSv1.2' }), [
    connect(0, { mode: 'readable' }),
    new Fresh(0, null, null, false),
    revokeIntermediate('A'),
  ]),
);

for (const [tier, mode] of [
  ['owned', 'data'],
  ['attached-tls', 'data'],
  ['attached-https', 'http'],
] as const) {
  t.test(`${tier}: a session resumed under another tenant's SNI name is judged by that tenant's CA`, (t) =>
    replaySequence(t, fixedSetup(tier, ids, { sniTenants: true }), [
      connect(2, { mode }),
      new Idle(50),
      new Resume(0, mode, false, 'a.test'),
    ]),
  );
}

for (const tier of ['owned', 'attached-tls'] as const) {
  t.test(`${tier}: a revocation that joins a keep-open revalidation in flight still cuts`, (t) =>
    replaySequence(t, fixedSetup(tier, ids, { policy: { kind: 'allowAll', slowMs: 120 } }), [
      connect(2),
      new Revalidate(0, true, true),
      revokeLeaf(2),
    ]),
  );
}

t.test('attached-https: a request node parsed just before a policy change waits for the new decision', (t) =>
  replaySequence(t, attached('attached-https', { version: 'TLSv1.2', every: 150 }), [
    connect(0, { mode: 'http', pause: true, concurrent: true }),
    new Release(0, false),
    new Resume(0, 'http', false),
    new SetPolicy({ kind: 'denyCn', cn: 'alice', slowMs: 0 }, true),
    new SetCa(['A'], false),
  ]),
);

t.test('attached node:tls: a leaf revoked during a TLS 1.2 renegotiation is cut on the wire', (t) =>
  replaySequence(t, attached('attached-tls', { version: 'TLSv1.2' }), [
    connect(3, { mode: 'pipe' }),
    new Fresh(0, null, null, false),
    new Fresh(0, null, null, true),
    revokeLeaf(3, true),
    new SetRevoked({ intermediate: 'B' }, false, true),
  ]),
);

// detach(): each invariant of the Detach step once, as a fixed sequence.
t.test('attached node:tls: after detach(), a CA swap, a revocation and a policy change cut nothing', (t) =>
  replaySequence(t, attached('attached-tls'), [
    connect(1),
    connect(2, { mode: 'pipe' }),
    new Detach(null),
    new SetCa(['B'], false),
    revokeLeaf(2),
    new SetPolicy({ kind: 'denyAll', slowMs: 0 }, false),
    new Revalidate(0, false),
  ]),
);

t.test('attached node:tls: a connection allowed at detach() outlives its certificate', (t) =>
  replaySequence(
    t,
    fixedSetup('attached-tls', [{ cn: 'alice', tenant: 'A', viaIntermediate: false, short: true }, ...ids.slice(1)]),
    [new Connect(0, '#0 alice@A/root~', 'localhost', 'data', false, false), new Detach(null), new Expire()],
  ),
);

t.test('attached node:tls: after detach(), a new handshake is judged by node alone', (t) =>
  replaySequence(t, attached('attached-tls', { sniTenants: true }), [
    connect(1, { sni: 'a.test' }),
    revokeLeaf(3),
    new Detach(null),
    connect(3),
    connect(3, { sni: 'a.test' }),
  ]),
);

t.test('attached-https: a denial kept open is closed by detach() (ERR_CTLS_DETACHED)', (t) =>
  replaySequence(t, attached('attached-https'), [
    connect(1, { mode: 'http' }),
    connect(2, { mode: 'http' }),
    new Detach(0),
  ]),
);

t.test('attached-https: a denial in flight at detach() concludes, and a request raised meanwhile never runs', (t) =>
  replaySequence(t, attached('attached-https'), [
    connect(1, { mode: 'http' }),
    connect(2, { mode: 'http' }),
    new Detach(null, { kind: 'denyCn', cn: 'bob', slowMs: 120 }, true),
    new SetCa(['B'], false),
  ]),
);
