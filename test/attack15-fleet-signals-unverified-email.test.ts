/**
 * Attack: borrowing another user's signals through an unverified `email` claim ("nOAuth"). By
 * default a bearer token's `email` claim is one of the peer's fleet identifiers, whatever its
 * `email_verified` says. Many identity providers let a user set that claim to any address (OpenID
 * Connect Core §5.7: `email` is not unique and not verified unless `email_verified` is true; Entra's
 * mutable `email` claim is the known case). Mallory signs in as himself (`sub` mallory) with
 * `email: alice@example.com, email_verified: false`; the identity provider's signals about Alice
 * (her device is `compliant`, her assurance level `aal3`) are then handed to the policy as Mallory's
 * own, and a policy that admits a compliant device or a high assurance level admits Mallory.
 * Revocations matched this way only err towards cutting; signals are positive facts and must not.
 *
 * A correct library keys a token's `email` only when the token says it was verified
 * (`email_verified === true`), or at least never hands a peer signals matched through an unverified
 * claim. The subject's own `iss`+`sub` still carries signals meant for it.
 *
 * Attack class: identity swap / canonical names (one identifier shared by two principals),
 * fail-open through positive signals.
 */
import t from 'tap';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';

t.test("an unverified email claim does not bring its owner's signals", async (t) => {
  const now = Date.now();
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  const event = {
    type: 'signals',
    subject: { format: 'email', email: 'alice@example.com' },
    signals: { device: { current_status: 'compliant' }, assurance: { current_level: 'aal3' } },
    at: now - 1_000,
  };
  for (const op of stateOps(checkEvent(event))) state.apply(op);
  const iat = Math.floor(now / 1000) - 60;
  const alice = { iss: 'https://idp.example', sub: 'alice', email: 'alice@example.com', email_verified: true, iat };
  const facts = (token: Record<string, unknown>) => ({
    chain: [],
    token,
    connectionSince: now - 60_000,
    tier: 'owned' as const,
  });
  t.match(guard.judge(facts(alice), now), { signals: { device: { current_status: 'compliant' } } }, 'Alice has them');
  const mallory = {
    iss: 'https://idp.example',
    sub: 'mallory',
    email: 'alice@example.com',
    email_verified: false,
    iat,
  };
  t.same(guard.judge(facts(mallory), now), {}, 'Mallory, claiming her address unverified, gets none of them');
});
