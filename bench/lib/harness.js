'use strict';
// What every metric shares: the arms it measures, a client/server process
// pair per measurement, and rounds that interleave the arms.
//
// An arm is one configuration measured once per round: a tier (owned, node,
// attached) of one build (this checkout, or the --compare ref). Every
// comparison carries an A/A control, a second arm identical to its baseline
// (node-aa beside node, owned-aa beside owned where node:tls has no
// counterpart), whose ratio to the baseline shows how far two identical
// configurations drift apart in this harness on this machine.
const path = require('node:path');
const { spawnWorker } = require('./worker.js');
const { pin } = require('./pin.js');
const { progress } = require('./progress.js');
const { clientTierFor } = require('./tiers.js');

const SERVER = path.join(__dirname, '..', 'server.js');
const CLIENT = path.join(__dirname, '..', 'client.js');
const MICRO = path.join(__dirname, '..', 'micro.js');

const TIER_LABELS = { owned: 'owned', node: 'node:tls', attached: 'attached' };

function arm(tier, build = 'new', suffix = '') {
  const id = `${tier}${suffix}${build === 'old' ? '@old' : ''}`;
  const label = `${TIER_LABELS[tier]}${suffix === '-aa' ? ' (A/A twin)' : ''}${build === 'old' ? ' (old build)' : ''}`;
  return { id, tier, build, label };
}

/** Library tiers beside node:tls and its A/A twin; with --compare each library tier also runs on the old build. */
function tierArms(ctx, library = ['owned', 'attached']) {
  const arms = [];
  for (const tier of library) {
    arms.push(arm(tier));
    if (ctx.compare !== null) arms.push(arm(tier, 'old'));
  }
  arms.splice(Math.min(1 + (ctx.compare !== null ? 1 : 0), arms.length), 0, arm('node'), arm('node', 'new', '-aa'));
  return arms;
}

/** Where node:tls has nothing to compare with: the library tiers and the owned tier's A/A twin. */
function selfArms(ctx, library = ['owned']) {
  const arms = [];
  for (const tier of library) {
    arms.push(arm(tier));
    if (ctx.compare !== null) arms.push(arm(tier, 'old'));
  }
  arms.splice(1 + (ctx.compare !== null ? 1 : 0), 0, arm('owned', 'new', '-aa'));
  return arms;
}

/** The worker environment for a build: the old one is loaded from the compare worktree's dist/. */
function envFor(ctx, build) {
  return build === 'old' ? { CTLS_BENCH_DIST: ctx.compare.dist } : {};
}

/** A server and a client worker for `armSpec`, each pinned to its own core where possible. */
async function withPair(ctx, armSpec, scenario, body, { startArgs = {}, pki = ctx.pki, clientTier } = {}) {
  const env = envFor(ctx, armSpec.build);
  const server = spawnWorker(SERVER, { execArgv: ctx.serverExecArgv, env });
  const client = spawnWorker(CLIENT, { env });
  try {
    pin(server.child.pid, ctx.pin.server);
    pin(client.child.pid, ctx.pin.client);
    const { port } = await server.call('start', { tier: armSpec.tier, pki, scenario, ...startArgs });
    return await body({ server, client, port, clientTier: clientTier ?? clientTierFor(armSpec.tier) });
  } finally {
    await Promise.allSettled([server.close(), client.close()]);
  }
}

/** An in-process worker (bench/micro.js) for a build, pinned where the server would be. */
async function withMicro(ctx, build, body) {
  const micro = spawnWorker(MICRO, { env: envFor(ctx, build) });
  try {
    pin(micro.child.pid, ctx.pin.server);
    return await body(micro);
  } finally {
    await micro.close();
  }
}

/**
 * Runs `measure(arm)` for every arm, `ctx.warmup` discarded rounds and then
 * `ctx.rounds` kept ones. Each round starts one arm later than the last, so
 * every arm takes every position in the order and drift over the run falls
 * on all of them alike. Returns, per arm id, the kept results in round order.
 */
async function rounds(ctx, label, arms, measure) {
  const kept = Object.fromEntries(arms.map((a) => [a.id, []]));
  const total = ctx.warmup + ctx.rounds;
  for (let r = 0; r < total; r++) {
    const shift = r % arms.length;
    const order = [...arms.slice(shift), ...arms.slice(0, shift)];
    const warm = r < ctx.warmup;
    const which = warm ? `warm-up ${r + 1}/${ctx.warmup}` : `round ${r - ctx.warmup + 1}/${ctx.rounds}`;
    for (const a of order) {
      progress(`${label}: ${a.label} (${which})`);
      const result = await measure(a);
      if (!warm) kept[a.id].push(result);
    }
  }
  return kept;
}

/** Per arm, one number per round: `key` of each result, or `fn(result, armId)`. */
function pick(results, key) {
  const get = typeof key === 'function' ? key : (r) => r[key];
  return Object.fromEntries(Object.entries(results).map(([id, list]) => [id, list.map((r) => get(r, id))]));
}

/** The comparisons a row reports: against node:tls, or new against old under --compare. */
function comparisons(compare) {
  if (compare !== null) {
    return [
      { name: 'owned new/old', num: 'owned', den: 'owned@old' },
      { name: 'attached new/old', num: 'attached', den: 'attached@old' },
    ];
  }
  return [
    { name: 'owned vs node', num: 'owned', den: 'node' },
    { name: 'attached vs node', num: 'attached', den: 'node' },
  ];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

module.exports = { tierArms, selfArms, arm, withPair, withMicro, rounds, pick, comparisons, sleep };
