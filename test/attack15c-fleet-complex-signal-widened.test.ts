/**
 * Attack: a device-compliance signal about one device of a user, reaching every device of that user.
 * A CAEP `device-compliance-change` names its subject as a `complex` subject
 * `{ user: { email: alice@… }, device: { opaque: 'laptop-1' } }`: Alice's laptop-1 is `compliant`.
 * The round-15 fix keeps signals "exact": a complex subject with a part in an unknown format is
 * refused rather than widened to its other parts, because a signal meant for "U's device D" applied
 * to all of U grants more than the transmitter said. But a complex subject whose parts are all in
 * known formats is still keyed as the union of its parts, so the signal is filed under Alice's email
 * alone, and Alice's unmanaged phone (any peer with her identity) is handed
 * `device: { current_status: 'compliant' }`: a policy that admits compliant devices admits it.
 *
 * A correct library applies a complex subject's signals only to a peer that carries every part it
 * names (or refuses such a signal as it refuses one with an unknown part): a signal never reaches a
 * peer the transmitter did not name.
 *
 * Attack class: identity swap / canonical names (a signal widened from one subject to another),
 * fail-open through positive signals.
 */
import t from 'tap';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';

t.test("a signal about one of a user's devices does not reach her other devices", async (t) => {
  const now = Date.now();
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  const event = {
    type: 'signals',
    subject: {
      format: 'complex',
      user: { format: 'email', email: 'alice@example.com' },
      device: { format: 'opaque', id: 'laptop-1' },
    },
    signals: { device: { current_status: 'compliant' } },
    at: now - 1_000,
  };
  let applied = true;
  try {
    for (const op of stateOps(checkEvent(event))) state.apply(op);
  } catch {
    applied = false; // refusing such a signal is also correct
  }
  const iat = Math.floor(now / 1000) - 60;
  // Alice from her phone: her own verified identity, nothing naming laptop-1.
  const phone = { iss: 'https://idp.example', sub: 'alice', email: 'alice@example.com', email_verified: true, iat };
  const facts = { chain: [], token: phone, connectionSince: now - 60_000, tier: 'owned' as const };
  t.comment(`signal event ${applied ? 'applied' : 'refused'}`);
  t.same(guard.judge(facts, now), {}, "the phone gets no signal meant for Alice's laptop-1");
});
