/**
 * Attack: one subject, two names, two signals. The identity provider reports the device as
 * `compliant` naming the user by email (at T1), then, later, as `not-compliant` naming the same user
 * by iss+sub (at T2 > T1), as transmitters do when different subsystems emit events or an email
 * was the only identifier at first. A peer whose token carries both `iss`+`sub` and `email` has both
 * index keys. Per key the latest signal of a name wins, but across keys the guard merges the
 * signals in the order of the peer's identifiers (`{ ...issSub, ...email }`), not by when each was
 * issued: the older `compliant` replaces the newer `not-compliant`, and the policy admits a device
 * the identity provider has just declared non-compliant.
 *
 * A correct library hands the policy, for each signal name, the latest issued (`at`) among all the
 * peer's identifiers, whatever key it was published under and in whatever order they are listed.
 *
 * Attack class: stale verdict / canonical names (a subject named in two equivalent forms), fail-open.
 */
import t from 'tap';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';

t.test('the latest signal of a name wins across all of a peer’s identifiers', async (t) => {
  const now = Date.now();
  const iss = 'https://idp.example';
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  const publish = (event: Record<string, unknown>): void => {
    for (const op of stateOps(checkEvent(event))) state.apply(op);
  };
  publish({
    type: 'signals',
    subject: { format: 'email', email: 'alice@example.com' },
    signals: { device: { current_status: 'compliant' } },
    at: now - 60_000,
  });
  publish({
    type: 'signals',
    subject: { format: 'iss_sub', iss, sub: 'alice' },
    signals: { device: { current_status: 'not-compliant' } },
    at: now - 10_000,
  });
  const token = { iss, sub: 'alice', email: 'alice@example.com', iat: Math.floor(now / 1000) - 300 };
  const verdict = guard.judge({ chain: [], token, connectionSince: now - 300_000, tier: 'owned' as const }, now);
  t.same(
    (verdict as { signals?: { device?: unknown } }).signals?.device,
    { current_status: 'not-compliant' },
    'the policy sees the newer signal',
  );
});
