// Model-based property test of the owned tier's per-tenant trust: every server picks a tenant
// context by SNI (a.test trusts root A only, b.test root B only, other names the server's own
// CAs, which setCa swaps), sometimes after a delay that holds the handshake at the ClientHello.
// Connections of both tenants, with and without intermediates, meet CRL, CA and policy swaps;
// each is judged by the trust it was served with, as the reference model in
// test/helpers/model/reference.ts says.
import t from 'tap';
import { runModelProperty } from '../helpers/model/commands';

t.test('owned tier with SNI tenant contexts agrees with the reference model', async (t) => {
  await runModelProperty(t, 'owned', {
    defaultRuns: 30,
    timeLimitMs: 20_000,
    shortPercent: 0,
    maxCommands: 10,
    sni: true,
    without: ['guest'],
  });
});
