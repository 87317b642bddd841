/**
 * The JavaScript I/O path: ciphertext arrives as the transport's 'data' chunks and goes back
 * through transport.write(). Works over any Duplex (a net.Socket, a proxy's stream, an in-memory
 * pair) and is the path on Windows; see socket-io.ts.
 */
import { borrow, canLendTo, giveBack, sendLent } from './ciphertext-pool.js';
import type { NativeTlsConnection } from './native.js';
import type { IOEvents, SealResult, SocketIO } from './socket-io.js';
import type { Transport } from './transport-socket.js';

export class StreamIO implements SocketIO {
  readonly native = false;
  readonly #transport: Transport;

  constructor(transport: Transport, events: IOEvents) {
    this.#transport = transport;
    transport.on('data', (chunk: Buffer) => events.ciphertext(chunk, this.#ownsReads()));
    transport.on('end', () => events.end());
    transport.on('error', (error: Error) => events.error(error));
    transport.on('close', () => events.close());
    // A stream buffers writes until it is connected: a client may speak at once.
    process.nextTick(() => events.ready());
  }

  /**
   * Whether a chunk the transport emits is ours alone to overwrite. libuv sockets read into a
   * fresh buffer each time; a JS Duplex may hand over memory its writer still uses; another
   * 'data' listener would see the chunk change under it.
   */
  #ownsReads(): boolean {
    return canLendTo(this.#transport) && this.#transport.listenerCount('data') === 1;
  }

  get queued(): number {
    return this.#transport.writableLength;
  }

  get destroyed(): boolean {
    return this.#transport.destroyed;
  }

  pause(): void {
    this.#transport.pause();
  }

  resume(): void {
    this.#transport.resume();
  }

  onceDrain(listener: () => void): void {
    this.#transport.once('drain', listener);
  }

  send(ciphertext: Buffer): boolean {
    const transport = this.#transport;
    if (transport.destroyed || transport.writableEnded) return true;
    return transport.write(ciphertext);
  }

  seal(handle: NativeTlsConnection, chunks: Buffer[]): SealResult {
    const out = canLendTo(this.#transport) ? borrow() : undefined;
    let result;
    try {
      result = handle.write(chunks.length === 1 ? chunks[0]! : chunks, out);
    } catch (error) {
      if (out !== undefined) giveBack(out);
      throw error;
    }
    const [, fresh, events, error, consumed, placed] = result;
    const sent = placed > 0 ? sendLent(this.#transport, out!, placed) : fresh !== null ? this.send(fresh) : true;
    if (placed === 0 && out !== undefined) giveBack(out);
    return [events, error, consumed, sent];
  }

  /**
   * Reports the end done only once the transport has handed everything to the kernel. Finishing
   * earlier lets autoDestroy (readable ended too) destroy the transport with writes still queued:
   * the peer would get a stream cut short, without the last records and the close_notify.
   */
  end(callback: () => void): void {
    const transport = this.#transport;
    if (transport.destroyed || transport.writableFinished) {
      if (!transport.writableEnded && !transport.destroyed) transport.end();
      callback();
      return;
    }
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      transport.removeListener('finish', finish);
      transport.removeListener('close', finish);
      callback();
    };
    transport.once('finish', finish);
    // A transport torn down before it finished: nothing more can be sent either way.
    transport.once('close', finish);
    if (!transport.writableEnded) transport.end();
  }

  endWith(alert: Buffer | null): void {
    const transport = this.#transport;
    if (alert !== null && !transport.destroyed && !transport.writableEnded) transport.end(alert);
  }

  destroy(): void {
    if (!this.#transport.destroyed) this.#transport.destroy();
  }

  setRef(ref: boolean): void {
    if (ref) this.#transport.ref?.();
    else this.#transport.unref?.();
  }
}
