/**
 * When a TLSSocket reads from its transport. Reading stops for the reader's backpressure or data
 * the gate holds (the socket calls pause()), and for two reasons of the TLS layer's own that a
 * reader's demand must not override: ciphertext we produced waits for the transport's 'drain',
 * and a ClientHello waits for the SNICallback. resume() reads again only once neither applies.
 */
/** The transport's side that ReadFlow drives (the socket's I/O path, socket-io.ts). */
export interface ReadControl {
  pause(): void;
  resume(): void;
  onceDrain(listener: () => void): void;
  readonly destroyed: boolean;
}

export class ReadFlow {
  #transport: ReadControl;
  #onDrained: () => void;
  #paused = false;
  #awaitingDrain = false;
  #helloPending = false;

  /** `onDrained` runs when the transport drained, to resume reading if nothing else stops it. */
  constructor(transport: ReadControl, onDrained: () => void) {
    this.#transport = transport;
    this.#onDrained = onDrained;
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#transport.pause();
  }

  resume(): void {
    if (!this.#paused || this.#awaitingDrain || this.#helloPending) return;
    this.#paused = false;
    this.#transport.resume();
  }

  /**
   * Reading makes OpenSSL answer on its own (a KeyUpdate with update_requested
   * gets one back, RFC 8446 section 4.6.3; a renegotiation its flight). A peer
   * that sends such messages and never reads would grow the transport's write
   * queue without end: stop reading until it drains. Application writes are
   * not a reason, they have the Writable's own backpressure, and pausing on
   * them would deadlock two peers that both write before they read.
   */
  awaitDrain(): void {
    if (this.#awaitingDrain || this.#transport.destroyed) return;
    this.#awaitingDrain = true;
    this.pause();
    this.#transport.onceDrain(() => {
      this.#awaitingDrain = false;
      this.#onDrained();
    });
  }

  /**
   * OpenSSL consumes nothing while the handshake waits at the ClientHello: every byte read then
   * would pile up in its read buffer. handshakeTimeout bounds the wait.
   */
  holdForHello(): void {
    this.#helloPending = true;
    this.pause();
  }

  helloAnswered(): void {
    this.#helloPending = false;
  }
}
