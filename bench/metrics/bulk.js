'use strict';
// bulk: one connection moves a fixed number of bytes, client->server ('up')
// then server->client ('down'), after an unmeasured warm-up transfer on the
// same connection. MB/s is the client's wall clock from the request to the
// last byte (or the server's acknowledgement); CPU per MB adds the CPU both
// processes spent over that transfer. The target is judged on CPU per MB,
// which a busy neighbour disturbs far less than a single connection's rate.
const { tierArms, withPair, rounds, pick } = require('../lib/harness.js');
const { finishRow } = require('../lib/rows.js');
const { fmtRatio, fmtNoise } = require('../lib/format.js');

const describe = 'MB/s and CPU per MB over one connection, client->server and server->client';

/** "up / down" for a pair of rows. */
const both2 = (rows, show) => rows.map(show).join(' / ');

const DIRECTIONS = { up: 'client->server', down: 'server->client' };

async function run(ctx) {
  const size = ctx.size.bulk;
  const arms = tierArms(ctx, ['owned', 'attached']);
  const rateRows = [];
  const cpuRows = [];
  for (const [direction, text] of Object.entries(DIRECTIONS)) {
    const results = await rounds(ctx, `bulk ${text}`, arms, (a) =>
      withPair(ctx, a, 'bulk', async ({ server, client, port, clientTier }) => {
        const { cipher } = await client.call('bulkOpen', { tier: clientTier, pki: ctx.pki, port });
        await client.call('bulkTransfer', { bytes: size.warmupBytes, direction });
        await server.call('mark');
        const result = await client.call('bulkTransfer', { bytes: size.bytes, direction });
        const stats = await server.call('stats');
        await client.call('release');
        return { ...result, cipher, cpuMsPerMb: (result.clientCpuMs + stats.cpuMs) / (size.bytes / 1e6) };
      }),
    );
    cpuRows.push(
      finishRow(ctx, {
        id: `bulk-${direction}-cpu`,
        label: `CPU per MB, both ends, ${text} (${(size.bytes / 1e6).toFixed(0)} MB)`,
        unit: 'ms',
        better: 'lower',
        samples: pick(results, 'cpuMsPerMb'),
        target: { text: '>= 1.00x node:tls', ratio: 'owned vs node', atLeast: 1 },
      }),
    );
    rateRows.push(
      finishRow(ctx, {
        id: `bulk-${direction}`,
        label: `  bulk MB/s, one connection, ${text}`,
        unit: 'MB/s',
        better: 'higher',
        note: `cipher ${results.owned[0]?.cipher ?? '?'}`,
        samples: pick(results, 'mbPerSec'),
      }),
    );
  }
  // Both directions must clear the bar: the worse verdict of the two stands.
  const order = ['not met', 'inside noise', null, 'met'];
  const both = cpuRows.map((row) => row.target).sort((a, b) => order.indexOf(a.verdict) - order.indexOf(b.verdict))[0];
  ctx.target(
    'bulk',
    'bulk >= 1.00x node:tls, both directions (judged on CPU per MB, both ends)',
    both,
    [
      `CPU per MB ${both2(cpuRows, (r) => fmtRatio(r.ratios['owned vs node']))} node:tls (up / down)`,
      `MB/s ${both2(rateRows, (r) => fmtRatio(r.ratios['owned vs node']))}`,
      `A/A noise ${both2(cpuRows, (r) => fmtNoise(r.noise))}`,
    ].join('; '),
  );
  return [cpuRows[0], rateRows[0], cpuRows[1], rateRows[1]];
}

module.exports = { describe, run };
