// Attack (lossy conversion, embedded vs remote disagree): the embedded Cedar adapter refuses a
// context value Cedar cannot hold exactly (undefined, NaN, a class instance …) and turns a Date
// into its epoch milliseconds, so a request with such a value is denied or judged on the exact
// value. The AuthZEN client (authzenPolicy, default mapping = the same contextFacts) sends the
// context through JSON.stringify instead: an `undefined` attribute silently disappears, NaN and
// Infinity become null, a Date becomes an ISO string, a Map or Set becomes {}. Cedar then meets an
// absent attribute or a String where the policy compares a Long: the comparison errors, and an
// erroring `forbid` is skipped. So `forbid … when { context.risk > 50 }` blocks a request embedded
// and lets it through `continuous-tls pdp`, when the app's risk lookup gave undefined, or when a
// lock time is a Date. The docs promise the embedded engine and the pdp endpoint agree.
//
// A correct library converts the AuthZEN context as strictly as the embedded one (refuse the
// request, fail closed, on a value JSON cannot carry exactly; a Date as the embedded mapping
// encodes it), so a remote decision never sees less than the embedded one would.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { authzenPolicy } from '../dist/policy/http-pdp.js';
import { startPdpServer } from '../dist/dev/pdp-server.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

const NOW = Date.UTC(2026, 0, 1);
const rules = `
permit(principal, action, resource);
forbid(principal, action, resource) when { context.risk > 50 };
forbid(principal, action, resource) when { context.lockedUntil > ${NOW} };
`;

t.test('a context the embedded engine denies is not allowed through the AuthZEN client', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-a10-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'policy.cedar'), rules);
  const pdp = await startPdpServer({ policies: dir, watch: false, insecureOpen: true });
  t.teardown(() => pdp.close());
  const remote = authzenPolicy({ url: pdp.url, timeoutMs: 2000 });
  t.teardown(() => remote.close());
  const embedded = cedarPolicy({ policies: rules });
  t.teardown(() => embedded.close());

  const cases: Array<[string, Record<string, unknown>]> = [
    ['risk lookup failed (undefined)', { risk: undefined, lockedUntil: NOW - 1 }],
    ['risk is NaN', { risk: NaN, lockedUntil: NOW - 1 }],
    ['account locked until a future Date', { risk: 0, lockedUntil: new Date(NOW + 3_600_000) }],
  ];
  for (const [name, context] of cases) {
    const input = certInput(certs.clientCert, 'GET', '/pay', { context });
    const here = await evaluatePolicy(embedded, input, { policyTimeout: 2000 });
    const there = await evaluatePolicy(remote, input, { policyTimeout: 2000 });
    t.equal(here.allow, false, `${name}: embedded Cedar denies`);
    t.equal(there.allow, false, `${name}: the AuthZEN decision point denies too (got: ${there.reason})`);
  }
});
