// A denial's problem document says nothing of the policy by default: no Cedar policy id, no
// decision point's reason or URL; `exposeReason: true` sends the reason. The full reason always
// reaches onDecision (the audit log).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { cedarPolicy } from '../dist/policy/cedar/policy.js';
import { authzenPolicy } from '../dist/policy/http-pdp.js';
import type { Policy } from '../dist/common/types.js';
import { client, startHttps } from './helpers/policy-https';
import { tempDir } from './helpers/policy-files';
import { fakeServer, json, spawnPdp } from './helpers/policy-pdp';

const policies = `@id("alice-get")
permit(principal == User::"alice", action == Action::"GET", resource);
@id("no-risk-7")
forbid(principal, action, resource) when { context has risk && context.risk > 7 };
`;

/** GET /orders as alice with a risk of 9: denied by the forbid. Resolves with the body and the audit reasons. */
async function deny(t: Test, policy: Policy, exposeReason: boolean) {
  const reasons: string[] = [];
  const authz = authorizeRequest({
    policy,
    cache: false,
    // A decision point in another process can take longer than the 200 ms default on a busy machine.
    policyTimeout: 5_000,
    context: () => ({ risk: 9 }),
    exposeReason,
    onDecision: (d) => reasons.push(d.reason),
  });
  const url = await startHttps(
    t,
    authz.node((_req, res) => res.end('ok')),
  );
  const r = await client(t, url, 'alice')('GET', '/orders');
  t.equal(r.status, 403);
  return { body: r.body, reasons };
}

t.test('an embedded Cedar policy', async (t) => {
  const cedar = cedarPolicy({ policies });
  const quiet = await deny(t, cedar, false);
  t.same(JSON.parse(quiet.body), { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'access denied' });
  t.notMatch(quiet.body, /no-risk-7|cedar/);
  t.same(quiet.reasons, ['cedar: forbid no-risk-7'], 'the audit hook has the policy id');
  const exposed = await deny(t, cedar, true);
  t.match(JSON.parse(exposed.body), { detail: 'cedar: forbid no-risk-7' });
});

t.test('the AuthZEN decision point process', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'authz.cedar'), policies);
  const pdp = await spawnPdp(t, dir);
  const policy = authzenPolicy({ url: pdp.url, timeoutMs: 5_000, headers: pdp.headers });
  t.teardown(() => policy.close());
  const quiet = await deny(t, policy, false);
  t.match(JSON.parse(quiet.body), { detail: 'access denied' });
  t.notMatch(quiet.body, /no-risk-7|cedar|127\.0\.0\.1|authzen/);
  t.same(quiet.reasons, ['cedar: forbid no-risk-7']);
  t.match(JSON.parse((await deny(t, policy, true)).body), { detail: 'cedar: forbid no-risk-7' });
});

t.test('a decision point whose reason names itself, and one that is down', async (t) => {
  const server = await fakeServer(t, (_path, _body, res) =>
    json(res, 200, { decision: false, context: { reason_admin: { en: `rule 12 at ${server.url}` } } }),
  );
  const policy = authzenPolicy({ url: server.url, timeoutMs: 5_000 });
  t.teardown(() => policy.close());
  const quiet = await deny(t, policy, false);
  t.notMatch(quiet.body, server.url.replace(/^http:\/\//, ''));
  t.notMatch(quiet.body, /rule 12/);
  t.same(quiet.reasons, [`rule 12 at ${server.url}`]);
  t.match(JSON.parse((await deny(t, policy, true)).body), { detail: `rule 12 at ${server.url}` });

  const down = authzenPolicy({ url: 'http://127.0.0.1:9/pdp', timeoutMs: 2_000 });
  t.teardown(() => down.close());
  const failed = await deny(t, down, false);
  t.same(JSON.parse(failed.body), { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'access denied' });
  t.notMatch(failed.body, /127\.0\.0\.1|pdp|ECONNREFUSED/);
  t.same(failed.reasons, ['policy-error']);
});
