// Model-based property test of the owned tier with the clock in play: most identities are issued
// at test time with a lifetime of about three seconds (a trailing ~ in their name), some by an
// intermediate of their own that lives as briefly ('own-int~'), and sequences let time run past their
// notAfter (steps never start within half a second of one, and a connection that close to its
// certificate's expiry may end either way). Rotations to fresh certificates, revocations and
// policy swaps interleave; no byte may reach the application after the certificate a connection
// is authorized by has expired, and every connection on an expired certificate must be cut.
import t from 'tap';
import { runModelProperty } from '../helpers/model/commands';

t.test('owned tier agrees with the reference model as certificates expire', async (t) => {
  await runModelProperty(t, 'owned', {
    defaultRuns: 10,
    timeLimitMs: 25_000,
    shortPercent: 75,
    maxCommands: 8,
    expireAtEnd: true,
    without: ['sni'],
  });
});
