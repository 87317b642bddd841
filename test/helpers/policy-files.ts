/** Temporary policy directories and atomic file replacement for the hot-reload tests. */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export function tempDir(t: Test, prefix = 'ctls-policy-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let counter = 0;
/** Replaces a file the way deploy tools do: write a temporary sibling, then rename over. */
export function replaceFile(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${++counter}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Resolves with the first emission of `event`, rejects after `ms`. */
export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string, ms = 5_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    const on = (value: T): void => {
      clearTimeout(timer);
      resolve(value);
    };
    emitter.once(event, on);
  });
}
