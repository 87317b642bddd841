// The demo's fleet act: one CAEP session-revoked event pushed to one of three processes cuts that
// user's stream in all three and no other stream; the timeline says so; everything the act started
// has exited when it returns. Without redis-server it says how to get it and skips. Facts, not
// timings: the machine running the suite may be slow.
import t from 'tap';
import { runFleetAct, type FleetActResult } from '../dist/dev/demo-fleet.js';
import { findRedisServer } from '../dist/dev/demo-fleet-redis.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function act(): Promise<{ result: FleetActResult; lines: string[]; checks: Map<string, boolean> }> {
  const lines: string[] = [];
  const checks = new Map<string, boolean>();
  const result = await runFleetAct({
    write: (line) => lines.push(line),
    check: (name, ok) => checks.set(name, ok),
  });
  return { result, lines, checks };
}

const noRedis = findRedisServer() === undefined ? 'redis-server is not installed' : false;

t.test('one session-revoked event cuts alice in every process, and only alice', { skip: noRedis }, async (t) => {
  const { result, lines, checks } = await act();
  const output = lines.join('\n');
  t.notOk(result.skipped);
  t.ok(result.accepted, 'the receiver accepted the push (202)', { output });
  t.equal(result.cuts.length, 3, 'three processes reported');
  result.cuts.forEach((cuts, i) => {
    t.same(
      cuts.map((c) => c.user),
      ['alice'],
      `process ${i + 1} cut alice's stream and nothing else`,
    );
    t.match(cuts[0]?.reason, /subject-revoked/, `process ${i + 1} says why`);
  });
  t.same(result.bobAlive, [true, true, true], "bob's streams still echo in every process");
  for (const [name, ok] of checks) t.ok(ok, name, { output });
  t.ok(checks.size >= 3, 'the act reported its checks');

  t.match(output, /t0\s+idp\s+pushes a signed CAEP session-revoked SET for alice@example\.com/);
  t.match(output, /t0 \+ [\d.]+ ms\s+process 1\s+receiver accepted the SET \(session-revoked\)/);
  for (const n of [1, 2, 3]) t.match(output, new RegExp(`t0 \\+ [\\d.]+ ms\\s+process ${n}\\s+cut alice's stream`));
  t.notMatch(output, /cut bob/);
  t.match(output, /bob's streams still flowing: 3 of 3 processes/);
  t.equal(result.pids.length, 4, 'redis-server and three members were started');
  for (const pid of result.pids) t.notOk(alive(pid), `process ${pid} has exited`);
});

t.test('without redis-server on PATH the act says how to get it and skips', async (t) => {
  const path = process.env['PATH'];
  process.env['PATH'] = '';
  t.teardown(() => {
    process.env['PATH'] = path;
  });
  const { result, lines, checks } = await act();
  t.ok(result.skipped);
  t.match(
    lines.join('\n'),
    /skipped: redis-server is not on PATH; install redis-server \(.*apt-get install redis-server/,
  );
  t.equal(checks.size, 0, 'no check fails for a missing redis-server');
  t.same(result.pids, [], 'nothing was started');
});
