/**
 * Whether the decision point serves the policies its directory holds: what GET /readyz answers.
 * Ready once the first load compiled (the server listens only after it), not ready from a reload
 * that failed until a later one succeeds or the directory is back to the set in force, and not
 * ready once closing. The directory watch lives here rather than in CedarPolicy because a file
 * reverted to the loaded text reloads nothing and emits nothing: only the caller of reload() can
 * tell that the disk agrees with the set in force again.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { CedarPolicy } from '../policy/cedar/policy.js';
import { isSourceFile } from '../policy/cedar/sources.js';

/** Why the server is not ready; never policy text, file names or diagnostics (probes are unauthenticated). */
export type NotReadyReason = 'reload_failed' | 'watch_failed' | 'closing';

const DEBOUNCE_MS = 25;

export class PdpReadiness {
  readonly #policy: CedarPolicy;
  #notReady: NotReadyReason | null = null;
  /** Load failures seen: a reload() during which none happened left the disk and the set in agreement. */
  #failures = 0;
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;

  /** `policy` was loaded by its constructor (which throws otherwise), so readiness starts true. */
  constructor(policy: CedarPolicy) {
    this.#policy = policy;
    policy.on('error', () => {
      this.#failures++;
      if (this.#notReady !== 'closing') this.#notReady = 'reload_failed';
    });
  }

  /** null when ready, else why not. */
  get notReady(): NotReadyReason | null {
    return this.#notReady;
  }

  /** Watches `dir` and reloads on changes to its policy files. */
  watch(dir: string, onError: (err: Error) => void): void {
    this.#watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (name !== null && !isSourceFile(name)) return;
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => void this.reload(), DEBOUNCE_MS);
    });
    this.#watcher.on('error', (err) => {
      if (this.#notReady !== 'closing') this.#notReady = 'watch_failed';
      onError(err);
    });
  }

  /** Re-reads the directory now; resolves true when a new set was loaded. */
  async reload(): Promise<boolean> {
    const failures = this.#failures;
    const loaded = await this.#policy.reload();
    if (this.#failures === failures && this.#notReady === 'reload_failed') this.#notReady = null;
    return loaded;
  }

  close(): void {
    this.#notReady = 'closing';
    this.#watcher?.close();
    clearTimeout(this.#debounce);
  }
}
