'use strict';
// steady: whether bulk transfer has one speed or several. The same
// server->client transfer as `bulk`, on a fresh process pair each time, ten
// times in a row per arm (interleaved, after a warm-up), judged on CPU per MB
// at both ends. The owned tier is steady when every run lies within the run's
// noise floor of its median. The floor is what the machine does to a stack
// with one speed: the larger of the A/A control's drift (node:tls against its
// identical twin, run by run) and the worst run of either node:tls arm against
// its own median. A stack with a slow mode (some runs taking far more CPU per
// MB than others) fails this even when its median looks fine.
const { tierArms, withPair, rounds, pick } = require('../lib/harness.js');
const { finishRow } = require('../lib/rows.js');
const { median } = require('../lib/stats.js');
const { fmt, fmtNoise } = require('../lib/format.js');

const describe = 'ten consecutive server->client bulk runs per arm: is every run within the noise floor of the median?';

/** The largest distance of a run from its arm's median, as a fraction (0.05 = 5 %). */
function worstDeviation(list) {
  const mid = median(list);
  return Math.max(...list.map((x) => Math.max(x / mid, mid / x))) - 1;
}

async function run(ctx) {
  const size = ctx.size.steady;
  const arms = tierArms(ctx, ['owned']);
  // Ten runs per arm by design, whatever --rounds says for the other metrics.
  const steadyCtx = { ...ctx, rounds: size.runs, warmup: 1 };
  const results = await rounds(steadyCtx, 'bulk steadiness', arms, (a) =>
    withPair(ctx, a, 'bulk', async ({ server, client, port, clientTier }) => {
      await client.call('bulkOpen', { tier: clientTier, pki: ctx.pki, port });
      await client.call('bulkTransfer', { bytes: size.warmupBytes, direction: 'down' });
      await server.call('mark');
      const result = await client.call('bulkTransfer', { bytes: size.bytes, direction: 'down' });
      const stats = await server.call('stats');
      await client.call('release');
      return { cpuMsPerMb: (result.clientCpuMs + stats.cpuMs) / (size.bytes / 1e6) };
    }),
  );
  const row = finishRow(ctx, {
    id: 'bulk-steady',
    label: `CPU per MB, server->client, ${size.runs} runs in a row (${(size.bytes / 1e6).toFixed(0)} MB each)`,
    unit: 'ms',
    better: 'lower',
    samples: pick(results, 'cpuMsPerMb'),
  });
  const deviations = Object.fromEntries(Object.entries(row.samples).map(([id, list]) => [id, worstDeviation(list)]));
  const floor = row.noise === null ? null : Math.max(row.noise, deviations.node ?? 0, deviations['node-aa'] ?? 0);
  let verdict = null;
  if (floor !== null && ctx.compare === null) verdict = deviations.owned <= floor ? 'met' : 'not met';
  ctx.target(
    'bulk-steady',
    `bulk steadiness: ${size.runs} owned-tier runs each within the noise floor of their median`,
    { verdict, interval: null, bar: 1 },
    [
      `worst run vs median: owned ${fmtNoise(deviations.owned)}, node:tls ${fmtNoise(deviations.node)}`,
      `noise floor ${fmtNoise(floor)} (A/A ${fmtNoise(row.noise)})`,
      `owned median ${fmt(row.values.owned, 'ms')} per MB`,
    ].join('; '),
  );
  row.note = `worst run vs median: ${Object.entries(deviations)
    .map(([id, d]) => `${id} ${fmtNoise(d)}`)
    .join(', ')}`;
  return [row];
}

module.exports = { describe, run };
