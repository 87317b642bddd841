/**
 * The two tasks an allowed connection waits for: the periodic re-check (`reauthorize.every`, plus
 * jitter) and the decision's lapse. Both live on the shared Scheduler, so a connection costs heap
 * entries, not timers. The lapse task runs even with `onExpiry: false`, when it re-checks nothing:
 * a subject whose data gate has no clock of its own (the attached tier) is held by it.
 */
import type { Decision, Trigger } from '../common/types.js';
import type { ScheduledTask, Scheduler } from './schedule.js';
import type { ReauthorizeSchedule } from './schedule-options.js';

export class RecheckTimers {
  #interval: ScheduledTask | null = null;
  #expiry: ScheduledTask | null = null;
  /** Whether the lapse task also re-checks (`onExpiry`), for next(). */
  #expiryRechecks = false;

  /**
   * Schedules the tasks after `decision` (an allow) concluded for `trigger`. `onInterval` and
   * `onLapse` run when each is due; they are not kept once the task has run or been cancelled.
   * `onLapse` runs at the decision's expiry whether or not `schedule.onExpiry` asks for a re-check.
   */
  arm(
    scheduler: Scheduler,
    schedule: Required<ReauthorizeSchedule>,
    decision: Decision,
    trigger: Trigger,
    onInterval: () => void,
    onLapse: () => void,
  ): void {
    const { every, jitter, onExpiry: atExpiry } = schedule;
    // A trust or policy change re-decides every connection at once: moving each one's timers would
    // be two heap removals and two insertions per connection for nothing. The periodic re-check
    // keeps its slot (it comes no later than it would have), and an unchanged expiry its task.
    const sweeping = trigger === 'revocation' || trigger === 'policy-change' || trigger === 'signals';
    const keepInterval = sweeping && this.#interval !== null && every > 0;
    const keepExpiry = this.#expiry !== null && this.#expiry.dueAt === decision.expiresAt;
    this.#expiryRechecks = atExpiry;
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
    if (!keepExpiry && Number.isFinite(decision.expiresAt)) {
      this.#expiry = scheduler.schedule(decision.expiresAt, () => {
        this.#expiry = null;
        onLapse();
      });
    }
  }

  /** The re-check due first, if any is scheduled (for inspection). */
  next(): { at: number; kind: 'interval' | 'expiry' } | null {
    const interval = this.#interval?.dueAt ?? Infinity;
    const expiry = this.#expiryRechecks ? (this.#expiry?.dueAt ?? Infinity) : Infinity;
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
