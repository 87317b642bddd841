'use strict';
// rps: 1 KB request/response round trips over a few connections, one request
// in flight on each, for a fixed window after a warm-up. Reported as round
// trips/s, the CPU both processes spend per round trip, and the round trip's
// p50 under that load. The server's CPU window opens a little after the
// client's, so the server's share is scaled per round trip, not per window.
const { tierArms, withPair, rounds, pick, sleep } = require('../lib/harness.js');
const { finishRow, LEVEL, levelGoal } = require('../lib/rows.js');

const describe = '1 KB request/response round trips/s and CPU per round trip at both ends';

async function run(ctx) {
  const size = ctx.size.rps;
  const arms = tierArms(ctx, ['owned', 'attached']);
  const results = await rounds(ctx, 'round trips', arms, (a) =>
    withPair(ctx, a, 'echo', async ({ server, client, port, clientTier }) => {
      const measuring = client.call('rps', { tier: clientTier, pki: ctx.pki, port, ...size });
      await sleep(size.warmupMs + 100);
      await server.call('mark');
      const result = await measuring;
      const stats = await server.call('stats');
      const serverUsPer = (stats.cpuMs * 1000) / ((result.perSec * stats.wallMs) / 1000);
      return { ...result, cpuUsPerRt: (result.clientCpuMs * 1000) / result.count + serverUsPer };
    }),
  );
  const cpu = finishRow(ctx, {
    id: 'rps-cpu',
    label: `CPU per 1 KB round trip, both ends (${size.connections} connections)`,
    unit: 'µs',
    better: 'lower',
    samples: pick(results, 'cpuUsPerRt'),
    target: LEVEL,
  });
  levelGoal(ctx, 'rps', '1 KB round trips >= 1.00x node:tls (judged on CPU per round trip, both ends)', cpu);
  return [
    cpu,
    finishRow(ctx, {
      id: 'rps',
      label: '  1 KB request/response round trips/s',
      unit: '/s',
      better: 'higher',
      samples: pick(results, 'perSec'),
    }),
    finishRow(ctx, {
      id: 'rps-p50',
      label: '  1 KB round trip p50 under that load',
      unit: 'ms',
      better: 'lower',
      samples: pick(results, 'p50'),
    }),
  ];
}

module.exports = { describe, run };
