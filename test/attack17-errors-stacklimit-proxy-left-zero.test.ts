// Attack (hostile app environment vs. the stack-free ERR_CTLS_DEAUTHORIZED, lib/common/errors.ts
// ctlsErrorWithoutStack): the limit is lowered with `Error.stackTraceLimit = 0` *before* the
// try/finally that restores it. `Error` there is the global binding, looked up at each call, and an
// app (an APM / instrumentation shim) may have replaced it with a Proxy of the intrinsic Error. The
// classic shim set trap forwards the write and forgets to return true: in strict-mode code (the
// compiled library is strict) the assignment then throws *after* the write reached the real Error.
//   - the deny path throws (deauthorizedError() out of Authorizer#conclude, before destroy()), so
//     the denied connection is not destroyed;
//   - and the app's Error.stackTraceLimit is left at 0 for the life of the process: every error the
//     app makes from then on has no stack frames.
// stackTraceLimitWritable() reads the descriptor through the Proxy (writable: true) so it lets the
// write go. Before 26d2afb deauthorizedError() never wrote Error.stackTraceLimit, and this could not
// happen. A correct library lowers and restores the limit inside one try (or writes the intrinsic
// it captured at load), and never lets the deny path throw for it.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const decisionModule = join(__dirname, '..', 'dist', 'authz', 'decision.js');

function run(shim: string): { threw: string | null; limit: number; appFrames: number } {
  const script = `
    const { deauthorizedError, denial } = require(${JSON.stringify(decisionModule)});
    const RealError = Error;
    ${shim}
    let threw = null;
    try {
      deauthorizedError(denial('interval', 'risk', 'engine', performance.now()));
    } catch (error) {
      threw = String(error && error.message);
    }
    const appFrames = new RealError('app').stack.split('\\n').length - 1;
    process.stdout.write(JSON.stringify({ threw, limit: RealError.stackTraceLimit, appFrames }));
  `;
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 4000 });
  if (child.status !== 0) throw new Error(child.stderr);
  return JSON.parse(child.stdout) as { threw: string | null; limit: number; appFrames: number };
}

t.test('a forwarding Proxy on the global Error: the deny path must not throw nor zero the limit', async (t) => {
  const out = run(`
    globalThis.Error = new Proxy(RealError, {
      // Forwards the write, returns undefined (falsish): a common shim mistake.
      set(target, key, value) { target[key] = value; },
    });
  `);
  t.equal(out.threw, null, 'deauthorizedError() does not throw (the denied connection is destroyed)');
  t.equal(out.limit, 10, "the app's Error.stackTraceLimit is left as it was (10)");
  t.ok(out.appFrames > 0, `the app's own errors still have stack frames (${out.appFrames})`);
});

t.test('a Proxy that refuses writes to Error: the deny path must not throw', async (t) => {
  const out = run(`
    globalThis.Error = new Proxy(RealError, {
      set(target, key) { throw new TypeError('Error.' + String(key) + ' is locked'); },
    });
  `);
  t.equal(out.threw, null, 'deauthorizedError() does not throw (the denied connection is destroyed)');
  t.equal(out.limit, 10);
});
