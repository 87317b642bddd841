/**
 * Client-side plumbing for the property tests: a TCP transport that can freeze a handshake after
 * the ClientHello (the client's later flights wait until release()), and the ways an application
 * reads a server socket.
 */
import * as net from 'node:net';
import { Duplex, Writable } from 'node:stream';

/**
 * A Duplex over a TCP socket that passes the client's first write (its ClientHello) and holds every
 * later write until release(): the server answers the hello and then waits, mid-handshake, for the
 * client's certificate, which it only sees after release().
 */
export class GatedTransport extends Duplex {
  readonly socket: net.Socket;
  #writes = 0;
  #open = false;
  #queue: Array<[Buffer, (error?: Error | null) => void]> = [];

  constructor(socket: net.Socket) {
    super({ allowHalfOpen: true });
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (error) => this.destroy(error));
    socket.on('close', () => this.destroy());
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#open || this.#writes++ === 0) this.socket.write(chunk, callback);
    else this.#queue.push([chunk, callback]);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const finish = (): void => {
      this.socket.end();
      callback();
    };
    if (this.#open) finish();
    else this.once('released', finish);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    for (const [, cb] of this.#queue.splice(0)) cb(error ?? new Error('transport destroyed'));
    callback(error);
  }

  get released(): boolean {
    return this.#open;
  }

  release(): void {
    if (this.#open) return;
    this.#open = true;
    for (const [chunk, callback] of this.#queue.splice(0)) {
      if (this.socket.destroyed) callback();
      else this.socket.write(chunk, callback);
    }
    this.emit('released');
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }

  get localPort(): number | undefined {
    return this.socket.localPort;
  }

  setNoDelay(noDelay?: boolean): this {
    this.socket.setNoDelay(noDelay);
    return this;
  }
}

/** How the application reads a server socket (all of them must be gated alike). */
export type ReadMode = 'data' | 'readable' | 'pipe' | 'asyncIter' | 'http';

export const streamModes: readonly ReadMode[] = ['data', 'readable', 'pipe', 'asyncIter'];

/** Reads `socket` the way `mode` says and hands every chunk to `onChunk` as the application gets it. */
export function consume(socket: Duplex, mode: Exclude<ReadMode, 'http'>, onChunk: (chunk: Buffer) => void): void {
  socket.on('error', () => {});
  switch (mode) {
    case 'data':
      socket.on('data', onChunk);
      break;
    case 'readable':
      socket.on('readable', () => {
        let chunk: Buffer | null;
        while ((chunk = socket.read() as Buffer | null) !== null) onChunk(chunk);
      });
      break;
    case 'pipe':
      socket.pipe(
        new Writable({
          write(chunk: Buffer, _encoding, callback) {
            onChunk(chunk);
            callback();
          },
        }),
      );
      break;
    case 'asyncIter':
      void (async () => {
        try {
          for await (const chunk of socket) onChunk(chunk as Buffer);
        } catch {
          // a cut connection ends the loop with its error
        }
      })();
      break;
  }
}
