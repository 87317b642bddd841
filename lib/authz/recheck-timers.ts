/**
 * The two re-checks an allowed connection waits for: the periodic one (`reauthorize.every`, plus
 * jitter) and the one at the decision's expiry. Both live on the shared Scheduler, so a connection
 * costs heap entries, not timers.
 */
import type { Decision, Trigger } from '../common/types.js';
import type { ScheduledTask, Scheduler } from './schedule.js';
import type { ReauthorizeSchedule } from './schedule-options.js';

export class RecheckTimers {
  #interval: ScheduledTask | null = null;
  #expiry: ScheduledTask | null = null;

  /**
   * Schedules the re-checks after `decision` (an allow) concluded for `trigger`. `onInterval` and
   * `onExpiry` run when each is due; they are not kept once the task has run or been cancelled.
   */
  arm(
    scheduler: Scheduler,
    schedule: Required<ReauthorizeSchedule>,
    decision: Decision,
    trigger: Trigger,
    onInterval: () => void,
    onExpiry: () => void,
  ): void {
    const { every, jitter, onExpiry: atExpiry } = schedule;
    // A trust or policy change re-decides every connection at once: moving each one's timers would
    // be two heap removals and two insertions per connection for nothing. The periodic re-check
    // keeps its slot (it comes no later than it would have), and an unchanged expiry its task.
    const sweeping = trigger === 'revocation' || trigger === 'policy-change' || trigger === 'signals';
    const keepInterval = sweeping && this.#interval !== null && every > 0;
    const keepExpiry = atExpiry && this.#expiry !== null && this.#expiry.dueAt === decision.expiresAt;
    if (!keepInterval) {
      scheduler.cancel(this.#interval);
      this.#interval = null;
    }
    if (!keepExpiry) {
      scheduler.cancel(this.#expiry);
      this.#expiry = null;
    }
    if (every > 0 && !keepInterval) {
      const due = scheduler.now() + every + (jitter > 0 ? Math.random() * jitter : 0);
      this.#interval = scheduler.schedule(due, () => {
        this.#interval = null;
        onInterval();
      });
    }
    if (atExpiry && !keepExpiry && Number.isFinite(decision.expiresAt)) {
      this.#expiry = scheduler.schedule(decision.expiresAt, () => {
        this.#expiry = null;
        onExpiry();
      });
    }
  }

  /** The re-check due first, if any is scheduled (for inspection). */
  next(): { at: number; kind: 'interval' | 'expiry' } | null {
    const interval = this.#interval?.dueAt ?? Infinity;
    const expiry = this.#expiry?.dueAt ?? Infinity;
    if (interval === Infinity && expiry === Infinity) return null;
    return expiry <= interval ? { at: expiry, kind: 'expiry' } : { at: interval, kind: 'interval' };
  }

  cancel(scheduler: Scheduler): void {
    scheduler.cancel(this.#interval);
    scheduler.cancel(this.#expiry);
    this.#interval = null;
    this.#expiry = null;
  }
}
