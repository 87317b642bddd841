/**
 * CRL sources. A file source reads a PEM CRL, validates it, hands it to the
 * owner, and (with watch) reloads it whenever the file changes. A file that
 * does not parse never replaces a good list: the previous one stays in force
 * and the failure is reported with ERR_CTLS_CRL_LOAD.
 */
import * as fs from 'node:fs';
import { ctlsError, invalidOption } from '../common/errors.js';
import { native } from '../tls/native.js';

export interface CrlFileOptions {
  file: string;
  /** Reload when the file changes (polling, so it works on every filesystem). */
  watch?: boolean;
  /** Polling interval in ms (default 500). */
  interval?: number;
}

export function isCrlFileOptions(value: unknown): value is CrlFileOptions {
  return (
    value !== null && typeof value === 'object' && !Buffer.isBuffer(value) && !Array.isArray(value) && 'file' in value
  );
}

export class CrlFileSource {
  readonly file: string;
  #onLoad: (pem: Buffer) => void;
  #onError: (error: Error) => void;
  #watching = false;
  #watchWanted: boolean;
  #lastGood: Buffer | null = null;
  readonly #interval: number;
  readonly #listener = (current: fs.Stats, previous: fs.Stats): void => {
    if (current.mtimeMs !== previous.mtimeMs || current.size !== previous.size || current.ino !== previous.ino)
      this.reload();
  };

  constructor(options: CrlFileOptions, onLoad: (pem: Buffer) => void, onError: (error: Error) => void) {
    if (typeof options.file !== 'string' || options.file.length === 0)
      throw invalidOption('crl.file', 'a file path', options.file);
    if (options.watch !== undefined && typeof options.watch !== 'boolean')
      throw invalidOption('crl.watch', 'a boolean', options.watch);
    this.file = options.file;
    this.#interval = options.interval ?? 500;
    this.#onLoad = onLoad;
    this.#onError = onError;
    this.#watchWanted = options.watch === true;
    if (options.watch) this.watch();
  }

  /**
   * After close(), watches again if asked to at construction (a server that listens again), and
   * reads the file at once: a change made while nothing watched must not wait for the next one.
   */
  reopen(): void {
    if (!this.#watchWanted || this.#watching) return;
    this.watch();
    this.reload();
  }

  /** Reads the file now; returns the PEM when it parsed, else null (the error went to onError). */
  load(): Buffer | null {
    let pem: Buffer;
    try {
      pem = fs.readFileSync(this.file);
      native.crlInfo(pem, false);
    } catch (error) {
      this.#onError(
        ctlsError(
          'ERR_CTLS_CRL_LOAD',
          `CRL file ${this.file} could not be loaded; the previous CRL stays in force: ${(error as Error).message}`,
          { cause: error },
        ),
      );
      return null;
    }
    return pem;
  }

  /** Reloads and applies the file if it parses and changed. */
  reload(): void {
    const pem = this.load();
    if (pem === null || (this.#lastGood !== null && pem.equals(this.#lastGood))) return;
    this.#lastGood = pem;
    try {
      this.#onLoad(pem);
    } catch (error) {
      this.#onError(
        ctlsError('ERR_CTLS_CRL_LOAD', `CRL file ${this.file} was rejected: ${(error as Error).message}`, {
          cause: error,
        }),
      );
    }
  }

  /** Remember what was applied initially so an unchanged file does not trigger a re-check. */
  markApplied(pem: Buffer): void {
    this.#lastGood = pem;
  }

  watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    // persistent: false — a watched CRL never keeps the process alive.
    fs.watchFile(this.file, { interval: this.#interval, persistent: false }, this.#listener);
  }

  close(): void {
    if (!this.#watching) return;
    this.#watching = false;
    fs.unwatchFile(this.file, this.#listener);
  }
}
