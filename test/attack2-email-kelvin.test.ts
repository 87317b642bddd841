/**
 * Attack: emailKey() lower-cases the local part with String#toLowerCase, which folds more than
 * ASCII: the Kelvin sign U+212A ('K') becomes 'k'. Two different mailboxes, `\u212Aate@example.com`
 * (an attacker's token `email` claim at an identity provider that takes any spelling) and
 * `kate@example.com`, share one key, so the attacker's requests carry kate's signals (a policy that
 * grants more on her assurance level grants it to the attacker). NFC leaves U+212A as it is: the
 * collision comes from the case folding, not from the normalisation.
 */
import t from 'tap';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';

t.test("a mailbox spelled with the Kelvin sign does not get kate's signals", async (t) => {
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  const event = checkEvent({
    type: 'signals',
    subject: { format: 'email', email: 'kate@example.com' },
    signals: { assurance: { current_level: 'aal3' } },
  });
  for (const op of stateOps(event)) state.apply(op);
  guard.bump();
  const token = { iss: 'https://idp.test', sub: 'mallory', email: '\u212Aate@example.com', iat: 1 };
  const verdict = guard.judge({ chain: [], token, connectionSince: Date.now(), tier: 'request' }, Date.now());
  t.same(verdict, {}, 'no signals for a different mailbox');
});
