'use strict';
// reauth: on one established connection the server times a 1 KB
// server-initiated echo round trip, first alone (the figure compared with
// node:tls), then (owned tier) in blocks alternating with a fresh
// re-authentication: TLS 1.3 post-handshake authentication (RFC 8446
// §4.6.2), chain verification and the policy decision. node:tls has no
// post-handshake authentication, so it contributes the echo round trip and
// the A/A noise floor. The target compares the fresh p50 with a budget of two
// echo round trips (those timed beside it) plus one chain verification (from
// the decision metric), per round, so the budget moves with the machine's
// state in that round.
const { tierArms, withPair, rounds, pick, sleep } = require('../lib/harness.js');
const { finishRow, LEVEL, levelGoal } = require('../lib/rows.js');
const { summary, median } = require('../lib/stats.js');
const { fmt, fmtSpread } = require('../lib/format.js');

const describe = 'fresh re-authentication (post-handshake auth) latency p50/p99 beside the echo round trip';

async function run(ctx) {
  const size = ctx.size.reauth;
  const arms = tierArms(ctx, ['owned']);
  const results = await rounds(ctx, 're-authentication', arms, (a) =>
    withPair(ctx, a, 'pha', async ({ server, client, port, clientTier }) => {
      await client.call('echoPeer', { tier: clientTier, pki: ctx.pki, port });
      // The owned server registers the connection once its own handshake is authorized.
      await server.call('waitLive', { expect: a.tier === 'owned' ? 1 : 0 });
      await sleep(50);
      const { echo, paired, fresh } = await server.call('pha', size);
      return {
        echo: summary(echo),
        paired: paired.length > 0 ? summary(paired) : null,
        fresh: fresh.length > 0 ? summary(fresh) : null,
      };
    }),
  );
  const noPha = (key) => (r, id) => (r.fresh === null ? (id.startsWith('node') ? 'n/a (no PHA)' : NaN) : r.fresh[key]);
  const echoP50 = finishRow(ctx, {
    id: 'echo-p50',
    label: 'echo round trip p50 (1 KB, server-initiated, one connection)',
    unit: 'ms',
    better: 'lower',
    samples: pick(results, (r) => r.echo.p50),
    target: LEVEL,
  });
  levelGoal(ctx, 'echo-p50', 'echo round trip p50 >= 1.00x node:tls', echoP50);
  const echoP99 = finishRow(ctx, {
    id: 'echo-p99',
    label: 'echo round trip p99',
    unit: 'ms',
    better: 'lower',
    samples: pick(results, (r) => r.echo.p99),
    target: LEVEL,
  });
  levelGoal(ctx, 'echo-p99', 'echo round trip p99 >= 1.00x node:tls', echoP99);
  const freshSamples = pick(results, noPha('p50'));
  delete freshSamples['node-aa'];
  const freshP99Samples = pick(results, noPha('p99'));
  delete freshP99Samples['node-aa'];
  const verifyUs = ctx.shared.verifyChainUs;
  let target;
  if (verifyUs !== undefined) {
    const budgets = results.owned.map((r) => 2 * r.paired.p50 + verifyUs / 1000);
    const headroom = results.owned.map((r, i) => budgets[i] / r.fresh.p50);
    target = { text: `<= ${median(budgets).toFixed(3)} ms`, headroom };
    ctx.shared.reauthBudgetMs = median(budgets);
  }
  const freshP50 = finishRow(ctx, {
    id: 'fresh-p50',
    label: 'fresh re-authentication p50 (PHA + verify + decision)',
    unit: 'ms',
    better: 'lower',
    samples: freshSamples,
    noiseFrom: echoP50,
    target,
  });
  const freshP99 = finishRow(ctx, {
    id: 'fresh-p99',
    label: 'fresh re-authentication p99',
    unit: 'ms',
    better: 'lower',
    samples: freshP99Samples,
    noiseFrom: echoP99,
  });
  const name = 'fresh re-auth p50 <= 2x echo RTT + one chain verification';
  if (target === undefined) {
    ctx.target('reauth', name, { verdict: null }, 'verifyChain cost not measured (run with the decision metric)');
  } else {
    const pairedEcho = median(results.owned.map((r) => r.paired.p50));
    ctx.target(
      'reauth',
      name,
      freshP50.target,
      `p50 ${fmtSpread(freshP50.spread.owned, 'ms')} vs budget ${fmt(ctx.shared.reauthBudgetMs, 'ms')} ` +
        `(2 x ${fmt(pairedEcho, 'ms')} echo + ${fmt(verifyUs / 1000, 'ms')} verifyChain); ` +
        `p99 ${fmt(freshP99.values.owned, 'ms')}`,
    );
  }
  return [echoP50, echoP99, freshP50, freshP99];
}

module.exports = { describe, run };
