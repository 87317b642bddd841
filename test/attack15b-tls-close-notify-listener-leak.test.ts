// Attack (pending states are budgets; close_notify games): a peer whose data is held (a decision
// is pending) sends close_notify and then keeps sending bytes without closing TCP. OpenSSL answers
// every later read with "zero return" again, and each answer reaches the socket as a new
// close_notify: since held data waits for the gate, the socket defers the end once more with one
// more 'gateopen' listener. The peer buys one listener (a closure over the socket) per chunk the
// server reads, for as long as the decision is pending, and when the gate opens all of them run
// (node warns MaxListenersExceededWarning after 10).
//
// A correct library takes one close_notify once: however many bytes follow it, the deferred end
// is registered once (at most a couple of 'gateopen' listeners are on the socket).
import t, { type Test } from 'tap';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createServer, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor } from './helpers/owned';
import { noFin } from './helpers/no-fin';

async function run(t: Test, nativeTransport: boolean): Promise<void> {
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    maxVersion: 'TLSv1.3',
    nativeTransport,
    policyTimeout: 60_000,
  });
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection');
  const port = await listen(t, server);
  const raw = net.connect(port, '127.0.0.1');
  await waitFor(raw, 'connect');
  t.teardown(() => raw.destroy());
  const client = tls.connect({ socket: noFin(raw), servername: 'localhost', rejectUnauthorized: false });
  client.on('error', () => {});
  await waitFor(client, 'secureConnect');
  const [socket] = await accepted;
  socket.on('error', () => {});
  socket.resume();

  let answer!: (allow: boolean) => void;
  server.setPolicy(() => new Promise<boolean>((resolve) => (answer = resolve))).catch(() => {});
  t.equal(socket.gateHeld, true, 'held while the policy decides');
  client.write('held request');
  client.end(); // close_notify, no FIN
  await new Promise((resolve) => setTimeout(resolve, 100));

  // 64 separate chunks after the close_notify, each read on its own.
  for (let index = 0; index < 64 && !raw.destroyed; index++) {
    raw.write(Buffer.alloc(1024, 0x17));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  const listeners = socket.listenerCount('gateopen');
  answer(true);
  t.ok(listeners <= 2, `${listeners} 'gateopen' listeners on the server socket after one close_notify`);
}

for (const nativeTransport of [true, false]) {
  t.test(`one close_notify defers the end once (nativeTransport ${nativeTransport})`, (t) => run(t, nativeTransport));
}
