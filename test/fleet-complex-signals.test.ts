// A complex subject's signals ("alice on laptop-1 is compliant") are filed under the combination
// of its parts: a peer that an app's mapper identifies by the same parts gets them, a peer known by
// one part alone does not, and a revocation of one part still cuts the combined peer.
import t from 'tap';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import type { GuardFacts } from '../dist/authz/guard.js';

const alice = { format: 'email', email: 'alice@example.com' } as const;
const laptop = { format: 'opaque', id: 'laptop-1' } as const;
const onLaptop = { format: 'complex', user: alice, device: laptop } as const;

function publish(state: FleetState, event: Record<string, unknown>): void {
  for (const op of stateOps(checkEvent(event))) state.apply(op);
}

/** A guard whose mapper names each peer by the device its token says it runs on, with its user. */
function deviceAwareGuard(state: FleetState): FleetGuard {
  return new FleetGuard(state, { stale: false, strict: true }, (facts: GuardFacts) => {
    const device = facts.token?.['device'];
    const user = { format: 'email' as const, email: String(facts.token?.['email']) };
    return typeof device === 'string'
      ? [{ format: 'complex' as const, user, device: { format: 'opaque' as const, id: device } }]
      : [user];
  });
}

const facts = (token: Record<string, unknown>, now: number): GuardFacts => ({
  chain: [],
  token: { email: 'alice@example.com', email_verified: true, iat: Math.floor(now / 1000) - 60, ...token },
  connectionSince: now - 60_000,
  tier: 'owned',
});

t.test('signals of a combination reach only that combination', async (t) => {
  const now = Date.now();
  const state = new FleetState();
  const guard = deviceAwareGuard(state);
  publish(state, { type: 'signals', subject: onLaptop, signals: { device: 'compliant' }, at: now - 1_000 });
  t.same(guard.judge(facts({ device: 'laptop-1' }, now), now), { signals: { device: 'compliant' } }, 'on laptop-1');
  t.same(guard.judge(facts({ device: 'phone' }, now), now), {}, 'on another device');
  t.same(guard.judge(facts({}, now), now), {}, 'named by the user alone');
});

t.test("signals about the user reach each of the user's combinations", async (t) => {
  const now = Date.now();
  const state = new FleetState();
  const guard = deviceAwareGuard(state);
  publish(state, { type: 'signals', subject: alice, signals: { assurance: 'aal2' }, at: now - 1_000 });
  t.same(guard.judge(facts({ device: 'laptop-1' }, now), now), { signals: { assurance: 'aal2' } });
});

t.test('a revocation of one part cuts the combined peer', async (t) => {
  const now = Date.now();
  const state = new FleetState();
  const guard = deviceAwareGuard(state);
  publish(state, { type: 'subject-revoked', subject: laptop, before: now });
  t.match(guard.judge(facts({ device: 'laptop-1' }, now), now), { deny: 'subject-revoked' });
  t.same(guard.judge(facts({ device: 'phone' }, now), now), {}, 'the same user elsewhere is not cut');
});

t.test('a signal about a combination with a part that is a list of aliases is refused', async (t) => {
  const both = { format: 'aliases', identifiers: [laptop, { format: 'opaque', id: 'laptop-1b' }] };
  t.throws(
    () => checkEvent({ type: 'signals', subject: { format: 'complex', user: alice, device: both }, signals: { a: 1 } }),
    { code: 'ERR_CTLS_BAD_SUBJECT' },
  );
});
