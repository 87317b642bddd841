// The Scheduler behind every re-check: one binary heap behind one timer, driven here by an injected
// clock so order, cancellation, compaction and 100k entries are checked without waiting. A child
// process shows that its real timer never keeps a process alive.
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Scheduler } from '../dist/authz/schedule.js';

interface FakeTimer {
  id: number;
  at: number;
  run: () => void;
  unrefed: boolean;
}

/** A manual clock: time moves only in advance(), which fires due timers in order. */
class FakeClock {
  time = 1_700_000_000_000;
  timers = new Map<number, FakeTimer>();
  delays: number[] = [];
  #nextId = 1;

  now = (): number => this.time;

  setTimeout = (run: () => void, ms: number): { id: number; unref: () => void } => {
    const timer: FakeTimer = { id: this.#nextId++, at: this.time + ms, run, unrefed: false };
    this.timers.set(timer.id, timer);
    this.delays.push(ms);
    return { id: timer.id, unref: () => (timer.unrefed = true) };
  };

  clearTimeout = (handle: unknown): void => {
    this.timers.delete((handle as { id: number }).id);
  };

  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const timer of this.timers.values())
        if (timer.at <= target && (next === undefined || timer.at < next.at)) next = timer;
      if (next === undefined) break;
      this.timers.delete(next.id);
      this.time = Math.max(this.time, next.at);
      next.run();
    }
    this.time = target;
  }
}

t.test('tasks run in due order, ties in scheduling order, on one timer', async (t) => {
  const clock = new FakeClock();
  const scheduler = new Scheduler(clock);
  const ran: string[] = [];
  const base = clock.now();
  scheduler.schedule(base + 300, () => ran.push('c'));
  scheduler.schedule(base + 100, () => ran.push('a'));
  scheduler.schedule(base + 200, () => ran.push('b1'));
  scheduler.schedule(base + 200, () => ran.push('b2'));
  t.equal(clock.timers.size, 1, 'one armed timer for four tasks');
  t.equal(scheduler.size, 4);

  clock.advance(99);
  t.same(ran, [], 'nothing runs early');
  clock.advance(1);
  t.same(ran, ['a']);
  clock.advance(250);
  t.same(ran, ['a', 'b1', 'b2', 'c']);
  t.equal(scheduler.size, 0);
  t.equal(clock.timers.size, 0, 'no timer left once the heap is empty');
});

t.test('an earlier task re-arms the timer; a task in the past runs at the next tick', async (t) => {
  const clock = new FakeClock();
  const scheduler = new Scheduler(clock);
  const ran: string[] = [];
  scheduler.schedule(clock.now() + 10_000, () => ran.push('late'));
  scheduler.schedule(clock.now() + 50, () => ran.push('early'));
  t.equal(clock.timers.size, 1, 'still one timer');
  t.equal([...clock.timers.values()][0]!.at, clock.now() + 50, 'armed for the earliest task');
  scheduler.schedule(clock.now() - 5_000, () => ran.push('overdue'));
  t.equal(clock.delays.at(-1), 0, 'an overdue task is armed with a zero delay');
  clock.advance(0);
  t.same(ran, ['overdue']);
  clock.advance(10_000);
  t.same(ran, ['overdue', 'early', 'late']);
});

t.test('a task may schedule another from inside its run', async (t) => {
  const clock = new FakeClock();
  const scheduler = new Scheduler(clock);
  const ran: number[] = [];
  const tick = (n: number): void => {
    ran.push(n);
    if (n < 5) scheduler.schedule(clock.now() + 1_000, () => tick(n + 1));
  };
  scheduler.schedule(clock.now() + 1_000, () => tick(1));
  clock.advance(10_000);
  t.same(ran, [1, 2, 3, 4, 5]);
});

t.test('cancelled tasks never run', async (t) => {
  const clock = new FakeClock();
  const scheduler = new Scheduler(clock);
  const ran: string[] = [];
  const a = scheduler.schedule(clock.now() + 100, () => ran.push('a'));
  scheduler.schedule(clock.now() + 200, () => ran.push('b'));
  const c = scheduler.schedule(clock.now() + 300, () => ran.push('c'));
  scheduler.cancel(a);
  scheduler.cancel(c);
  scheduler.cancel(c);
  scheduler.cancel(null);
  scheduler.cancel(undefined);
  t.equal(a.cancelled, true);
  clock.advance(1_000);
  t.same(ran, ['b']);
  t.equal(scheduler.size, 0, 'cancelled entries left the heap');
});

t.test('clear() drops everything and disarms', async (t) => {
  const clock = new FakeClock();
  const scheduler = new Scheduler(clock);
  let ran = 0;
  for (let i = 0; i < 10; i++) scheduler.schedule(clock.now() + i * 10, () => ran++);
  scheduler.clear();
  t.equal(scheduler.size, 0);
  t.equal(clock.timers.size, 0);
  clock.advance(1_000);
  t.equal(ran, 0);
});

t.test('many far-future cancellations are compacted away', async (t) => {
  const clock = new FakeClock();
  const scheduler = new Scheduler(clock);
  const ran: number[] = [];
  const year = 365 * 24 * 3_600_000;
  // Like 5000 connections whose certificate-expiry re-checks are replaced before they are due.
  const tasks = Array.from({ length: 5_000 }, (_, i) => scheduler.schedule(clock.now() + year + i, () => ran.push(i)));
  t.equal(scheduler.size, 5_000);
  for (let i = 0; i < 5_000; i++) if (i % 5 !== 0) scheduler.cancel(tasks[i]);
  t.ok(scheduler.size < 2_500, `the heap shrank without any task coming due (size ${scheduler.size})`);
  t.equal(clock.timers.size, 1, 'still one timer after compaction');

  clock.advance(year + 5_000);
  t.equal(ran.length, 1_000, 'exactly the tasks that were not cancelled ran');
  t.same(
    ran,
    Array.from({ length: 1_000 }, (_, i) => i * 5),
    'in due order',
  );
  t.equal(scheduler.size, 0);
});

t.test('waits longer than setTimeout can express are split, never fired early', async (t) => {
  const clock = new FakeClock();
  const scheduler = new Scheduler(clock);
  let ran = false;
  const fortyDays = 40 * 24 * 3_600_000;
  scheduler.schedule(clock.now() + fortyDays, () => (ran = true));
  t.ok(
    clock.delays.every((ms) => ms <= 2 ** 31 - 1),
    'no delay above 2^31-1 ms (node would clamp it to 1 ms)',
  );
  clock.advance(2 ** 31 - 1);
  t.equal(ran, false, 'the first timer fired, the task is not due yet');
  t.equal(clock.timers.size, 1, 're-armed');
  clock.advance(fortyDays - (2 ** 31 - 1));
  t.equal(ran, true);
});

t.test('100k entries run in order with one timer', async (t) => {
  const clock = new FakeClock();
  const scheduler = new Scheduler(clock);
  const n = 100_000;
  const base = clock.now();
  let previousDue = -Infinity;
  let count = 0;
  let outOfOrder = 0;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    // Pseudo-random due times in the next 30 s, with many ties.
    const due = base + ((i * 7_919) % 30_000);
    scheduler.schedule(due, () => {
      if (due < previousDue) outOfOrder++;
      previousDue = due;
      count++;
    });
  }
  const scheduledIn = performance.now() - started;
  t.equal(scheduler.size, n);
  t.equal(clock.timers.size, 1, 'one timer for 100k tasks');
  clock.advance(30_000);
  const total = performance.now() - started;
  t.equal(count, n, 'every task ran');
  t.equal(outOfOrder, 0, 'in due order');
  t.equal(scheduler.size, 0);
  // O(log n) per operation: 100k schedules + runs take tens of ms; a linear scan would take minutes.
  t.ok(total < 5_000, `scheduled in ${scheduledIn.toFixed(0)} ms, all run in ${total.toFixed(0)} ms`);
});

t.test('its timer is unref()d', async (t) => {
  const clock = new FakeClock();
  const scheduler = new Scheduler(clock);
  scheduler.schedule(clock.now() + 1_000, () => {});
  scheduler.schedule(clock.now() + 10, () => {});
  t.equal(clock.timers.size, 1);
  t.equal([...clock.timers.values()][0]!.unrefed, true, 'the armed timer was unref()d');
});

t.test('a process whose only work is a scheduled re-check exits at once', async (t) => {
  const schedule = join(__dirname, '..', 'dist', 'authz', 'schedule.js');
  const script = `
    const { Scheduler } = require(${JSON.stringify(schedule)});
    const scheduler = new Scheduler();
    scheduler.schedule(Date.now() + 3_600_000, () => process.exit(3));
    process.on('exit', (code) => console.log('exit', code, scheduler.size));
  `;
  const started = Date.now();
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (c, s) => resolve([c, s])),
  );
  clearTimeout(killer);
  t.equal(signal, null, 'not killed');
  t.equal(code, 0);
  t.equal(output.trim(), 'exit 0 1', 'exited with the task still scheduled');
  t.ok(Date.now() - started < 15_000, 'well before the task was due');
});
