// The error a denied connection is destroyed with (ERR_CTLS_DEAUTHORIZED) carries its decision and
// no stack trace: the engine raises it from a sweep or a timer, so its frames would be the engine's
// own, and a stream's destroy() formats the stack at once, which a CRL swap cutting thousands of
// connections paid for each of them. Error.stackTraceLimit is the app's: it is left as it was, and
// where it cannot be changed (frozen intrinsics) the error is still made, with its stack.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { reauthorize, type Decision } from '../dist/index.js';
import { ContinuousTlsError } from '../dist/common/errors.js';
import { deauthorizedError, denial } from '../dist/authz/decision.js';
import { closed, waitFor } from './helpers/owned';
import { connectPair, makePki, mtlsOptions, startServer } from './helpers/mtls';

const frames = (stack: string | undefined): string[] => (stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));

t.test('deauthorizedError() carries the decision and its cause, with no stack frames', async (t) => {
  const cause = new Error('verify failed');
  const decision = denial('revocation', 'CERT_REVOKED', 'verification', performance.now(), undefined, cause);
  const error = deauthorizedError(decision) as ContinuousTlsError & { decision?: Decision };
  t.ok(error instanceof ContinuousTlsError);
  t.equal(error.code, 'ERR_CTLS_DEAUTHORIZED');
  t.equal(error.decision, decision);
  t.equal(error.cause, cause);
  t.match(error.message, /revocation.*CERT_REVOKED/);
  t.equal(error.stack, `ContinuousTlsError: ${error.message}`, 'the stack is the header line alone');
  t.same(frames(error.stack), []);
});

t.test("the app's Error.stackTraceLimit is left as it was", async (t) => {
  const before = Error.stackTraceLimit;
  t.teardown(() => {
    Error.stackTraceLimit = before;
  });
  Error.stackTraceLimit = 7;
  deauthorizedError(denial('interval', 'risk', 'engine', performance.now()));
  t.equal(Error.stackTraceLimit, 7);
  t.ok(frames(new Error('app').stack).length > 0, "the app's own errors still have frames");
});

t.test('under a frozen Error.stackTraceLimit the error is made, with its stack', async (t) => {
  const decisionModule = join(__dirname, '..', 'dist', 'authz', 'decision.js');
  const script = `
    Object.defineProperty(Error, 'stackTraceLimit', { value: 5, writable: false, configurable: false });
    const { deauthorizedError, denial } = require(${JSON.stringify(decisionModule)});
    const error = deauthorizedError(denial('interval', 'risk', 'engine', performance.now()));
    const frames = error.stack.split('\\n').length - 1;
    process.stdout.write(JSON.stringify({ code: error.code, frames, limit: Error.stackTraceLimit }));
  `;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout) as { code: string; frames: number; limit: number };
  t.equal(out.code, 'ERR_CTLS_DEAUTHORIZED');
  t.ok(out.frames > 0, 'the stack is kept where the limit cannot be lowered');
  t.equal(out.limit, 5);
});

t.test("a denied live connection's 'error' has the code and the decision, and no engine frames", async (t) => {
  const pki = await makePki();
  let allow = true;
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, { policy: () => ({ allow, reason: allow ? 'ok' : 'risk-too-high' }) }),
  );
  const { client, socket } = await connectPair(t, server, port, pki);
  const failed = waitFor<[Error & { code?: string; decision?: Decision }]>(socket, 'error');
  allow = false;
  const decision = await reauthorize(socket, { reason: 'step-up' });
  const [error] = await failed;
  t.equal(decision.allow, false);
  t.equal(error.code, 'ERR_CTLS_DEAUTHORIZED');
  t.equal(error.decision, decision);
  t.same(frames(error.stack), []);
  await closed(socket);
  await closed(client);
});

t.test('a Proxy on the global Error from before the library loaded: no throw, the limit put back', async (t) => {
  const decisionModule = join(__dirname, '..', 'dist', 'authz', 'decision.js');
  const shims = {
    // Applies the write, then reports failure: a throw in the library's strict code.
    forwarding: 'set(target, key, value) { target[key] = value; }',
    refusing: "set() { throw new TypeError('locked'); }",
    hostileDescriptor: "getOwnPropertyDescriptor() { throw new TypeError('no'); }",
  };
  for (const [name, trap] of Object.entries(shims)) {
    const script = `
      const RealError = Error;
      globalThis.Error = new Proxy(RealError, { ${trap} });
      const { deauthorizedError, denial } = require(${JSON.stringify(decisionModule)});
      let threw = null;
      let code = null;
      try {
        code = deauthorizedError(denial('interval', 'risk', 'engine', performance.now())).code;
      } catch (error) {
        threw = String(error);
      }
      process.stdout.write(JSON.stringify({ threw, code, limit: RealError.stackTraceLimit }));
    `;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    t.equal(run.status, 0, `${name}: ${run.stderr}`);
    const out = JSON.parse(run.stdout) as { threw: string | null; code: string | null; limit: number };
    t.equal(out.threw, null, `${name}: the deny path does not throw`);
    t.equal(out.code, 'ERR_CTLS_DEAUTHORIZED', `${name}: the error is made`);
    t.equal(out.limit, 10, `${name}: Error.stackTraceLimit is as it was`);
  }
});
