/**
 * A transport for a TLS peer that sends close_notify and then keeps its side of TCP open: for the
 * tests of what a server still reads after a peer's close_notify.
 */
import type * as net from 'node:net';
import { Duplex } from 'node:stream';

/** A Duplex over `raw` whose end never reaches TCP: a TLS client's close_notify goes out, its FIN does not. */
export function noFin(raw: net.Socket): Duplex {
  const duplex: Duplex = new Duplex({
    read() {
      raw.resume();
    },
    write(chunk, _encoding, callback) {
      raw.write(chunk, callback);
    },
    final(callback) {
      callback();
    },
  });
  raw.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) raw.pause();
  });
  raw.on('end', () => duplex.push(null));
  raw.on('error', () => {});
  return duplex;
}
