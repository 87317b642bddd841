// Model-based property test of the owned tier (createServer/connect): random sequences of
// connections (with or without a client certificate, with or without an intermediate, paused
// after the ClientHello, resuming a session, read as 'data', 'readable', pipe(), for await or
// HTTP), fresh re-authentications with or without a rotated identity, CRL swaps revoking and
// restoring leaves and intermediates, a fleet guard revoking and restoring leaves, CA swaps and
// policy swaps (some of them slow), on servers
// that require a certificate or admit certificate-less guests who step up later. Each step is
// compared with the independent reference model in test/helpers/model/reference.ts: every live
// connection must be open and passing data exactly when the model allows it, and no byte may reach
// the application while the model denies the connection. SNI tenants: owned-sni.test.ts; expiry:
// owned-expiry.test.ts.
import t from 'tap';
import { runModelProperty } from '../helpers/model/commands';

t.test('owned tier agrees with the reference model', async (t) => {
  await runModelProperty(t, 'owned', {
    defaultRuns: 60,
    timeLimitMs: 20_000,
    shortPercent: 0,
    maxCommands: 12,
    without: ['sni'],
  });
});
