/**
 * The node:net face of a TLSSocket: the transport it runs over, and the net.Socket members
 * (addresses, timeouts, Nagle, keep-alive, ref/unref) that code written for node:tls calls on a
 * TLS socket, passed through to that transport. Kept apart from the TLS logic so the socket's
 * own file is about TLS; a transport without a member (an in-memory Duplex) makes it a no-op.
 */
import { Duplex, type DuplexOptions } from 'node:stream';
import type { Socket } from 'node:net';

/** Any Duplex carrying ciphertext; the net.Socket members it has are passed through. */
export type Transport = Duplex & Partial<Pick<Socket, PassedThrough>>;

type PassedThrough =
  | 'remoteAddress'
  | 'remotePort'
  | 'localAddress'
  | 'localPort'
  | 'setTimeout'
  | 'setNoDelay'
  | 'setKeepAlive'
  | 'address'
  | 'ref'
  | 'unref';

export class TransportSocket extends Duplex {
  readonly transport: Transport;
  #forwardingTimeout = false;

  constructor(transport: Transport, options: DuplexOptions) {
    super(options);
    this.transport = transport;
  }

  get remoteAddress(): string | undefined {
    return this.transport.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.transport.remotePort;
  }

  get remoteFamily(): string | undefined {
    return (this.transport as Partial<Socket>).remoteFamily;
  }

  get localAddress(): string | undefined {
    return this.transport.localAddress;
  }

  get localPort(): number | undefined {
    return this.transport.localPort;
  }

  address(): ReturnType<Socket['address']> | Record<string, never> {
    return this.transport.address?.() ?? {};
  }

  setTimeout(ms: number, callback?: () => void): this {
    // As net.Socket: 0 turns the timeout off and removes the callback given with it (node's HTTP
    // client does so after each request; adding it again would grow a listener per request).
    if (callback !== undefined) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    if (this.transport.setTimeout === undefined) return this;
    if (!this.#forwardingTimeout) {
      this.#forwardingTimeout = true;
      this.transport.on('timeout', () => this.emit('timeout'));
    }
    this.transport.setTimeout(ms);
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.transport.setNoDelay?.(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.transport.setKeepAlive?.(enable, initialDelay);
    return this;
  }

  ref(): this {
    this.transport.ref?.();
    return this;
  }

  unref(): this {
    this.transport.unref?.();
    return this;
  }

  /** node:net compatibility: a TLSSocket is connected once it exists. */
  get connecting(): boolean {
    return false;
  }
}
