// end() on a TLSSocket finishes its writable side only once the transport has sent everything:
// with the readable side already ended, 'finish' lets autoDestroy destroy the transport, and a
// transport destroyed with writes still queued would hand the peer a stream cut short (the last
// records and the close_notify lost, seen as a plain end of stream).
import t from 'tap';
import { Duplex } from 'node:stream';
import { createServer, connect, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';

/**
 * An in-memory link whose writes complete `delayMs` later, with a write buffer large enough that a
 * writer never waits for 'drain'; destroying an end drops what it has not sent yet, as closing a
 * socket drops what libuv still queues.
 */
function slowPair(delayMs: number): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const make = (index: number): Duplex =>
    new Duplex({
      writableHighWaterMark: 16 * 1024 * 1024,
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        setTimeout(() => {
          const other = sides[1 - index]!;
          if (!sides[index]!.destroyed && !other.destroyed) other.push(chunk);
          callback();
        }, delayMs);
      },
      final(callback) {
        setTimeout(() => {
          const other = sides[1 - index]!;
          if (!other.destroyed) other.push(null);
          callback();
        }, delayMs);
      },
      destroy(error, callback) {
        const other = sides[1 - index]!;
        if (!other.destroyed && !other.readableEnded) other.push(null);
        callback(error);
      },
    });
  sides.push(make(0), make(1));
  return [sides[0]!, sides[1]!];
}

t.test('the last writes and the close_notify reach the peer when both sides end at once', async (t) => {
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    ca: certs.ca,
    requestCert: true,
    allowHalfOpen: true,
  });
  t.teardown(() => server.close());
  const [serverEnd, clientEnd] = slowPair(2);
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  server.emit('connection', serverEnd);
  const client = connect({
    socket: clientEnd,
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

  let received = 0;
  theirs.on('data', (chunk: Buffer) => (received += chunk.length));
  const serverEnded = waitFor(theirs, 'end', SOON);
  // The server ends first, so the client's readable side has ended by the time its own end() runs.
  client.resume();
  theirs.end();
  await waitFor(client, 'end', SOON);
  const sent = 64 * 1024 * 8;
  for (let i = 0; i < 8; i++) client.write(Buffer.alloc(64 * 1024, i));
  client.end();
  await serverEnded;
  t.equal(received, sent, 'every byte the client wrote before end() arrived');
});
