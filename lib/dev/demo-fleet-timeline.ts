/**
 * The fleet act's timeline: events reported by several processes, each stamped on process.hrtime
 * (CLOCK_MONOTONIC on Linux, one clock for every process of the machine), printed in order as
 * milliseconds after the moment the identity provider pushed its event.
 */

/** Now on the machine-wide monotonic clock, in µs. */
export const hrtimeUs = (): number => Number(process.hrtime.bigint() / 1000n);

interface Entry {
  at: number;
  actor: string;
  text: string;
}

export class FleetTimeline {
  readonly #entries: Entry[] = [];

  /** `at` in µs on hrtimeUs()'s clock. */
  add(at: number, actor: string, text: string): void {
    this.#entries.push({ at, actor, text });
  }

  /** The entries in time order, as "t0 + 3.1 ms  process 2  text" lines. */
  lines(t0: number): string[] {
    return [...this.#entries]
      .sort((a, b) => a.at - b.at)
      .map(({ at, actor, text }) => {
        const when = at === t0 ? 't0' : `t0 + ${((at - t0) / 1000).toFixed(1)} ms`;
        return `  ${when.padEnd(15)} ${actor.padEnd(10)} ${text}`;
      });
  }
}
