// Cedar on Node 20: a hot decision path must survive V8 deoptimizing it in the middle of a wasm call.
// The fixture forces that deoptimization deterministically; it runs in a child process because the
// failure being guarded against is an abort of the whole process, not an exception.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const fixture = join(__dirname, 'fixtures', 'cedar-lazy-deopt.js');

function runFixture(env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, ['--allow-natives-syntax', fixture], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

t.test('decisions survive a lazy deoptimization during the wasm call', async (t) => {
  const child = runFixture({ CONTINUOUS_TLS_KEEP_V8_FLAGS: '' });
  t.equal(child.signal, null, `no abort (stderr: ${child.stderr.slice(0, 300)})`);
  t.equal(child.status, 0);
  t.match(child.stdout, /^done 62$/m, 'every decision ran and allowed');
});

// Shows the fixture reaches the V8 defect the flag works around, so the test above can fail.
t.test(
  'without the workaround, Node 20 aborts on the same fixture',
  { skip: !process.versions.v8.startsWith('11.') && 'only V8 11.x is known to abort' },
  async (t) => {
    const child = runFixture({ CONTINUOUS_TLS_KEEP_V8_FLAGS: '1' });
    t.not(child.status, 0, 'the process did not finish normally');
    t.match(child.stderr, /unreachable code/);
  },
);
