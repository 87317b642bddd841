// Model-based property test of the attached tier on an unmodified node:tls server: random
// sequences of node:tls clients (with or without an intermediate, through SNI tenant contexts,
// paused after the ClientHello, resuming a session) whose server sockets the application reads as
// 'data', 'readable', pipe() or for await, interleaved with the attachment's CRL swaps (leaves and
// intermediates), CA swaps, policy swaps (some slow), re-checks asked for fresh (renegotiation on
// TLS 1.2) and certificates of a few seconds that expire, each compared with the independent
// reference model in test/helpers/model/reference.ts. node:tls verifies the handshake against the
// SNI context's CA; the attachment re-decides with its own CAs, CRLs, clock and policy.
import t from 'tap';
import { runModelProperty } from '../helpers/model/commands';

t.test('attached node:tls server agrees with the reference model', async (t) => {
  await runModelProperty(t, 'attached-tls', {
    defaultRuns: 40,
    timeLimitMs: 20_000,
    shortPercent: 20,
    maxCommands: 10,
  });
});
