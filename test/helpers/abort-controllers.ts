/** Counts the AbortControllers made while a test runs (evaluatePolicy makes one only when a policy needs it). */
import type { Test } from 'tap';

export function countAbortControllers(t: Test): () => number {
  const Original = globalThis.AbortController;
  let made = 0;
  globalThis.AbortController = class extends Original {
    constructor() {
      super();
      made++;
    }
  };
  t.teardown(() => {
    globalThis.AbortController = Original;
  });
  return () => made;
}
