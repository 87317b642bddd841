/**
 * Attack: a signal whose complex subject narrows it through a member this library does not know.
 * The round-15 fix refuses a signal (which may admit) when a complex subject's part is in an unknown
 * format, rather than widening it to the other parts. But a part under an unknown member *name* is
 * never looked at: `{ format: 'complex', user: { email: alice@… }, assertion: { format: 'opaque',
 * id: 'A-17' } }` (a newer CAEP member, or a transmitter's extension, narrowing the signal to one
 * assertion) is keyed as `user` alone, and `assurance: { current_level: 'aal3' }` meant for one
 * assertion reaches every peer identified as Alice.
 *
 * A correct library treats a complex subject's member it does not know as it treats a part in an
 * unknown format: skipped in a revocation (cuts a superset), refused in a signal (never widened).
 *
 * Attack class: canonical names / identity swap (a signal widened beyond the subject it named),
 * fail-open through positive signals.
 */
import t from 'tap';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';

t.test('a signal narrowed by an unknown complex member is not widened to the user', async (t) => {
  const now = Date.now();
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  const event = {
    type: 'signals',
    subject: {
      format: 'complex',
      user: { format: 'email', email: 'alice@example.com' },
      assertion: { format: 'opaque', id: 'A-17' },
    },
    signals: { assurance: { current_level: 'aal3' } },
    at: now - 1_000,
  };
  try {
    for (const op of stateOps(checkEvent(event))) state.apply(op);
  } catch {
    // refusing the signal is correct
  }
  const iat = Math.floor(now / 1000) - 60;
  const token = { iss: 'https://idp.example', sub: 'alice', email: 'alice@example.com', email_verified: true, iat };
  const facts = { chain: [], token, connectionSince: now - 60_000, tier: 'owned' as const };
  t.same(guard.judge(facts, now), {}, "Alice's other sessions get no signal meant for assertion A-17");
});
