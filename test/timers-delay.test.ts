// Every option-driven timer goes through timerDelay(): node turns a delay past 2^31-1 ms into 1 ms,
// which would make a month-long timeout fire at once. (Per-timer behaviour: http-context-timeout,
// attack10c-timer-certificate-request-overflow, attack10c-timer-ssf-body-timeout-overflow.)
import t from 'tap';
import { MAX_TIMER_MS, timerDelay } from '../dist/common/timers.js';

t.test('timerDelay caps at what setTimeout honours and leaves the rest', async (t) => {
  t.equal(timerDelay(0), 0);
  t.equal(timerDelay(1_000), 1_000);
  t.equal(timerDelay(MAX_TIMER_MS), MAX_TIMER_MS);
  t.equal(timerDelay(2 ** 32), MAX_TIMER_MS);
  t.equal(timerDelay(Infinity), MAX_TIMER_MS);
});
