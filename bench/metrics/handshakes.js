'use strict';
// handshakes: full mTLS handshakes (TLS 1.3, ECDSA P-256, a new client
// identity per connection from a pool) with N clients in flight for a fixed
// window after a warm-up. The client counts a handshake when the server's
// first byte arrives, i.e. once the server has authorized the peer. Both
// processes report their CPU over the window, so beside handshakes/s each
// tier gets CPU per handshake at each end and in total; the total is what the
// target is judged on, being steadier than a rate on a shared machine. The
// owned server is also measured under node:tls clients: the same client stack
// for every server, so that row's difference is the server alone.
const { tierArms, withPair, rounds, pick, sleep } = require('../lib/harness.js');
const { finishRow } = require('../lib/rows.js');
const { fmtRatio, fmtNoise } = require('../lib/format.js');

const describe = 'mTLS handshakes/s and CPU per handshake at both ends, N concurrent clients';

async function run(ctx) {
  const size = ctx.size.handshakes;
  const arms = tierArms(ctx, ['owned', 'attached']);
  // The owned server under node:tls clients, once per build.
  const cross = arms
    .filter((a) => a.tier === 'owned')
    .map((a) => ({
      ...a,
      id: a.id.replace('owned', 'owned+nc'),
      label: `${a.label} with node:tls clients`,
      clientTier: 'node',
    }));
  const results = await rounds(ctx, 'handshakes', [...arms, ...cross], (a) =>
    withPair(
      ctx,
      a,
      'handshake',
      async ({ server, client, port, clientTier }) => {
        const measuring = client.call('handshake', { tier: clientTier, pki: ctx.pki, port, ...size });
        // The server's CPU window starts when the client's does.
        await sleep(size.warmupMs);
        await server.call('mark');
        const result = await measuring;
        const stats = await server.call('stats');
        const serverMsPer = stats.cpuMs / Math.max(1, stats.secure);
        const clientMsPer = result.clientCpuMs / Math.max(1, result.count);
        return { ...result, serverMsPer, clientMsPer, totalMsPer: serverMsPer + clientMsPer };
      },
      { clientTier: a.clientTier },
    ),
  );
  const plain = Object.fromEntries(arms.map((a) => [a.id, results[a.id]]));
  // The node:tls-client row: the cross arms stand in for the owned tier.
  const crossed = { ...plain };
  for (const a of cross) crossed[a.id.replace('owned+nc', 'owned')] = results[a.id];
  delete crossed.attached;
  delete crossed['attached@old'];
  const ownClients = Object.fromEntries(Object.entries(plain).filter(([id]) => !id.startsWith('attached')));

  const c = size.concurrency;
  const total = finishRow(ctx, {
    id: 'handshake-cpu',
    label: `CPU per mTLS handshake, both ends (${c} clients)`,
    unit: 'ms',
    better: 'lower',
    samples: pick(plain, 'totalMsPer'),
    target: { text: '>= 1.00x node:tls', ratio: 'owned vs node', atLeast: 1 },
  });
  const rate = finishRow(ctx, {
    id: 'handshakes',
    label: `mTLS handshakes/s (${c} clients, each tier its own client)`,
    unit: '/s',
    better: 'higher',
    samples: pick(plain, 'perSec'),
  });
  const serverOnly = finishRow(ctx, {
    id: 'handshakes-node-client',
    label: `mTLS handshakes/s (${c} node:tls clients for every server)`,
    unit: '/s',
    better: 'higher',
    samples: pick(crossed, 'perSec'),
  });
  const serverCpu = finishRow(ctx, {
    id: 'handshake-server-cpu',
    label: '  server CPU per handshake (incl. authorization)',
    unit: 'ms',
    better: 'lower',
    samples: pick(plain, 'serverMsPer'),
    // "costs at most 10 % more than node:tls": node's CPU over the attached tier's >= 1 / 1.1.
    target: { text: 'attached <= 1.10x node:tls CPU', ratio: 'attached vs node', atLeast: 1 / 1.1 },
  });
  const clientCpu = finishRow(ctx, {
    id: 'handshake-client-cpu',
    label: '  client CPU per handshake',
    unit: 'ms',
    better: 'lower',
    samples: pick(ownClients, 'clientMsPer'),
  });
  ctx.target(
    'handshakes',
    'mTLS handshakes >= 1.00x node:tls (judged on CPU per handshake, both ends)',
    total.target,
    [
      `CPU per handshake ${fmtRatio(total.ratios['owned vs node'])} node:tls`,
      `handshakes/s ${fmtRatio(rate.ratios['owned vs node'])}`,
      `server alone (node:tls clients) ${fmtRatio(serverOnly.ratios['owned vs node'])}`,
      `attached server CPU ${fmtRatio(serverCpu.ratios['attached vs node'])}`,
      `A/A noise ${fmtNoise(total.noise)}`,
    ].join('; '),
  );
  if (serverCpu.target !== undefined) {
    ctx.target(
      'attached-handshake',
      'attached tier: server CPU per handshake <= 1.10x node:tls',
      serverCpu.target,
      `node:tls / attached ${fmtRatio(serverCpu.ratios['attached vs node'])} (bar 0.91x); ` +
        `A/A noise ${fmtNoise(serverCpu.noise)}`,
    );
  }
  return [total, rate, serverOnly, serverCpu, clientCpu];
}

module.exports = { describe, run };
