// Attack: the attached tier (attach(node:tls server)) holds a connection while a re-decision that
// must hold data is pending (a policy, trust or CRL change, a fleet revocation), after a decision
// lapsed, and after a denial the app keeps open with `reauthorize(socket, { destroyOnDeny: false })`.
// The library's own comment on such a connection is that it "passes nothing either way until a
// later decision allows it again", and the owned tier parks writes at its gate.
// On the attached tier only the inbound side is held: the application's writes (a streaming
// response, a server push, an SSE feed) still reach the peer whose authorization was just denied.
// A correct library holds outbound application data on a held attached connection as well (or
// refuses / errors the write), so a denied peer receives no byte written after the denial.
// Attack class: other paths around the gate (data after a denial, outbound direction).
import t from 'tap';
import { reauthorize, type Decision } from '../dist/index.js';
import { delay } from './helpers/mtls';
import { attachedConnection } from './helpers/attached-tls';

t.test('a denied, kept-open attached connection still carries the server app writes to the peer', async (t) => {
  let allow = true;
  const { socket, received } = await attachedConnection(t, () => allow);

  // The policy now denies this peer; the app keeps the connection open as the API allows.
  allow = false;
  const decision = await reauthorize(socket, { destroyOnDeny: false });
  t.equal(decision.allow, false, 'the peer is denied');
  t.equal(socket.destroyed, false, 'kept open, as asked');

  // The application goes on writing (it does not inspect every decision before each write).
  socket.write('secret written after the denial');
  await delay(200);
  t.equal(received(), '', 'the denied peer receives nothing written after its denial');
});

t.test('an attached connection held for a pending re-decision carries the app writes to the peer', async (t) => {
  const { attachment, socket, received } = await attachedConnection(t, () => true);

  // A policy change: the connection is held until it is re-decided; this peer will be denied.
  let settle!: (allow: boolean) => void;
  const decided: Promise<Decision[]> = attachment.setPolicy(() => new Promise<boolean>((r) => (settle = r)));
  await delay(20);
  socket.write('secret written while the re-decision is pending');
  await delay(200);
  t.equal(received(), '', 'nothing written while the connection is held reaches the peer');
  settle(false);
  t.match(await decided, [{ allow: false }]);
});
