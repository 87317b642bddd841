/**
 * A loopback TCP relay between a client and a server that can stop forwarding what the client
 * sends, to pause a handshake or a certificate answer midway (a slow or hostile peer), and let it
 * go later. Closed on teardown.
 */
import * as net from 'node:net';
import { EventEmitter } from 'node:events';
import type { Test } from 'tap';

export interface Relay extends EventEmitter {
  /** The port clients connect to. */
  readonly port: number;
  /** Hold what the client sends from now on ('held' is emitted for each held chunk). */
  holdClient(): void;
  /** Hold the client's bytes once `chunks` more of them have passed (1: after the ClientHello). */
  holdClientAfter(chunks: number): void;
  /** Forward everything held, in order, and stop holding. */
  release(): void;
  /** Chunks currently held. */
  readonly heldChunks: number;
  /** Forward the first `count` complete TLS records of what is held, keep holding the rest. */
  releaseRecords(count: number): void;
  /** Complete TLS records (RFC 8446 section 5.1 framing) currently held. */
  heldRecords(): number;
}

/** The lengths of the complete records at the start of `data`. */
function recordLengths(data: Buffer): number[] {
  const lengths: number[] = [];
  let at = 0;
  while (at + 5 <= data.length) {
    const length = 5 + data.readUInt16BE(at + 3);
    if (at + length > data.length) break;
    lengths.push(length);
    at += length;
  }
  return lengths;
}

export async function startRelay(t: Test, targetPort: number): Promise<Relay> {
  const relay = new EventEmitter() as Relay & { port: number; heldChunks: number };
  let held: Buffer[] | null = null;
  let passBeforeHold = -1;
  let upstream: net.Socket | null = null;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const target = net.connect(targetPort, '127.0.0.1');
    upstream = target;
    for (const socket of [client, target]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => {
      if (passBeforeHold > 0 && --passBeforeHold === 0) {
        target.write(chunk);
        held = [];
        passBeforeHold = -1;
        return;
      }
      if (held !== null) {
        held.push(chunk);
        relay.heldChunks = held.length;
        relay.emit('held', chunk);
        return;
      }
      target.write(chunk);
    });
    target.pipe(client);
    client.on('end', () => target.end());
    client.on('close', () => target.destroy());
    target.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.port = (server.address() as net.AddressInfo).port;
  relay.heldChunks = 0;
  relay.holdClient = () => {
    held ??= [];
  };
  relay.holdClientAfter = (chunks) => {
    passBeforeHold = chunks;
  };
  relay.heldRecords = () => recordLengths(Buffer.concat(held ?? [])).length;
  relay.releaseRecords = (count) => {
    const all = Buffer.concat(held ?? []);
    const take = recordLengths(all)
      .slice(0, count)
      .reduce((sum, length) => sum + length, 0);
    upstream?.write(all.subarray(0, take));
    held = [all.subarray(take)];
    relay.heldChunks = 1;
  };
  relay.release = () => {
    const chunks = held ?? [];
    held = null;
    relay.heldChunks = 0;
    for (const chunk of chunks) upstream?.write(chunk);
  };
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return relay;
}
