/**
 * The engine's warnings: conditions that do not deny by themselves but that an operator must hear
 * of. Each is said once, not once per connection, so a sweep over many connections stays readable.
 */
import { ctlsError } from '../common/errors.js';

export class EngineWarnings {
  readonly #emit: (warning: Error) => void;
  #staleWarned = new Set<string>();
  #loneLeafWarned = false;

  constructor(emit: (warning: Error) => void) {
    this.#emit = emit;
  }

  /** Once per authorizer: the likely cause is node hiding the presented intermediates, and the fix is an option. */
  loneLeaf(): void {
    if (this.#loneLeafWarned) return;
    this.#loneLeafWarned = true;
    const warning = ctlsError(
      'ERR_CTLS_CHAIN_INCOMPLETE',
      "an attached connection's peer chain arrived as its leaf alone, " +
        'and neither a CA nor a configured intermediate issued it. ' +
        'Node 24.x and 26.8+ hide the intermediates a client presents from server sockets (nodejs/node#65579): ' +
        'pass them to attach() as `intermediates`.',
    );
    this.#emit(warning);
  }

  /** Once per stale CRL (`issuer@nextUpdate`) until the trust changes. */
  staleCrls(keys: string[]): void {
    const fresh = keys.filter((key) => !this.#staleWarned.has(key));
    if (fresh.length === 0) return;
    for (const key of fresh) this.#staleWarned.add(key);
    const warning = ctlsError(
      'ERR_CTLS_CRL_STALE',
      `CRL past its nextUpdate still in use (revocation: 'best-effort'): ${fresh.join(', ')}`,
    );
    this.#emit(warning);
  }

  /** The trust changed: a CRL still stale after it is worth saying again. */
  trustChanged(): void {
    this.#staleWarned.clear();
  }
}
