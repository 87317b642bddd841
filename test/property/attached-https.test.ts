// Model-based property test of the attached tier on an unmodified node:https server: random
// sequences of keep-alive clients sending HTTP requests (node's HTTP parser reads the socket
// itself), with or without an intermediate, through SNI tenant contexts, paused after the
// ClientHello or resuming a session, interleaved with the attachment's CRL swaps (leaves and
// intermediates), CA swaps and policy swaps (some slow). No request handler may run for a
// connection the independent reference model (test/helpers/model/reference.ts) denies.
import t from 'tap';
import { runModelProperty } from '../helpers/model/commands';

t.test('attached node:https server agrees with the reference model', async (t) => {
  await runModelProperty(t, 'attached-https', {
    defaultRuns: 40,
    timeLimitMs: 20_000,
    shortPercent: 0,
    maxCommands: 10,
  });
});
