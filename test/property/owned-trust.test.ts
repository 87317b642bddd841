// Model-based property test of the owned tier (createServer/connect): random sequences of
// connections (with or without a client certificate, with or without an intermediate, through SNI
// tenant contexts, paused after the ClientHello, resuming a session, read as 'data', 'readable',
// pipe(), for await or HTTP), fresh re-authentications with or without a rotated identity, CRL
// swaps revoking and restoring leaves and intermediates, CA swaps and policy swaps (some of them
// slow), each compared with the independent reference model in test/helpers/model/reference.ts.
// After every step each live connection must be open and passing data exactly when the model
// allows it, and no byte may reach the application while the model denies the connection.
import t from 'tap';
import { runModelProperty } from '../helpers/model/commands';

t.test('owned tier agrees with the reference model', async (t) => {
  await runModelProperty(t, 'owned', { defaultRuns: 25, timeLimitMs: 35_000, shortPercent: 0, maxCommands: 10 });
});
