// The peer's close_notify arrives while the gate holds its last plaintext (as it does while a
// decision is pending) and the reader has not consumed what it was already given. When the gate
// opens, the held plaintext goes out as the reader reads, and only then the end: none is dropped.
import t from 'tap';
import { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { createServer, connect, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';

/** An in-memory link; what the client sends can be captured and handed over in chosen pieces. */
function controlledPair() {
  const sides: Duplex[] = [];
  let capturing = false;
  const captured: Buffer[] = [];
  const make = (index: number): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        if (index === 1 && capturing) captured.push(chunk);
        else if (!sides[1 - index]!.destroyed) sides[1 - index]!.push(chunk);
        callback();
      },
      final(callback) {
        if (!(index === 1 && capturing)) sides[1 - index]!.push(null);
        callback();
      },
    });
  sides.push(make(0), make(1));
  return {
    serverEnd: sides[0]!,
    clientEnd: sides[1]!,
    capture: () => (capturing = true),
    captured,
    deliver: (chunk: Buffer) => sides[0]!.push(chunk),
  };
}

t.test('plaintext held by the gate is all delivered before the end', async (t) => {
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    ca: certs.ca,
    requestCert: true,
    allowHalfOpen: true,
  });
  t.teardown(() => server.close());
  const link = controlledPair();
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  server.emit('connection', link.serverEnd);
  const client = connect({
    socket: link.clientEnd,
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    allowHalfOpen: true,
  });
  t.teardown(() => client.destroy());
  const connected = waitFor(client, 'secureConnect', SOON);
  const [theirs] = await accepted;
  await connected;

  // 10 KB reaches the server's readable buffer and stays there unread.
  theirs.pause();
  client.write(Buffer.alloc(10 * 1024, 1));
  while (theirs.readableLength < 10 * 1024) await delay(5);

  // The gate holds what follows, as it does while a decision is pending.
  theirs.hold('test');
  link.capture();
  for (let i = 0; i < 3; i++) client.write(Buffer.alloc(4 * 1024, 2 + i));
  client.end();
  await waitFor(client, 'finish', SOON);
  t.ok(link.captured.length >= 4, 'three data writes and the close_notify were captured');
  // The last data and the close_notify arrive together, so the end is seen while data is held.
  for (const piece of link.captured.slice(0, 2)) link.deliver(piece);
  link.deliver(Buffer.concat(link.captured.slice(2)));
  await delay(20);
  t.ok(theirs.gateHeld, 'the gate holds the data');
  theirs.release('test');

  let received = 0;
  theirs.on('data', (chunk: Buffer) => (received += chunk.length));
  theirs.resume();
  await waitFor(theirs, 'end', SOON);
  t.equal(received, 10 * 1024 + 3 * 4 * 1024, 'every byte before the close_notify was delivered');
});
