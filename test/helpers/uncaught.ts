/** Uncaught exceptions, kept for the test to assert on instead of failing the runner. */
import type { Test } from 'tap';

/**
 * Records the process's uncaught exceptions until the test ends. The runner's own listeners are set
 * aside meanwhile (they would count an exception as a failure of the runner, not of this test) and
 * put back on teardown.
 */
export function catchUncaught(t: Test): Error[] {
  const uncaught: Error[] = [];
  const onUncaught = (error: Error): void => void uncaught.push(error);
  const previous = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', onUncaught);
  t.teardown(() => {
    process.removeListener('uncaughtException', onUncaught);
    for (const listener of previous) process.on('uncaughtException', listener);
  });
  return uncaught;
}
