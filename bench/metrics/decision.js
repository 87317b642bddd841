'use strict';
// decision: in-process costs, each in a fresh worker (bench/micro.js) so it
// starts on a clean heap: a policy decision (cached hit, plain function,
// Cedar on the compiled and the wasm engine, each alone and through
// evaluatePolicy) and one chain verification (cold, after a store swap, and
// from the verified-chain cache). Each figure is the median of timed batches
// after a warm-up batch. node:tls has no counterpart, so the A/A control is
// the library measured twice per round in separate workers; the targets are
// absolute (µs per decision) and judged on the headroom bar/measured per round.
const { selfArms, withMicro, rounds, pick } = require('../lib/harness.js');
const { finishRow } = require('../lib/rows.js');
const { median } = require('../lib/stats.js');
const { fmtSpread } = require('../lib/format.js');

const describe = 'decision cost in µs: cached, plain function, Cedar; and one chain verification';

async function run(ctx) {
  const arms = selfArms(ctx, ['owned']);
  const results = await rounds(ctx, 'decision cost and chain verification (in-process)', arms, (a) =>
    withMicro(ctx, a.build, async (micro) => {
      const d = await micro.call('decisions', { pki: ctx.pki, quick: ctx.quick });
      const v = await micro.call('verifyChain', { pki: ctx.pki, quick: ctx.quick });
      return { ...d, verifyUs: v.us, verifyWarmUs: v.warmUs, verifyCachedUs: v.cachedUs };
    }),
  );
  ctx.shared.verifyChainUs = median(results.owned.map((r) => r.verifyUs));
  ctx.shared.verifyChainWarmUs = median(results.owned.map((r) => r.verifyWarmUs));
  const row = (id, label, key, target) =>
    finishRow(ctx, { id, label, unit: 'µs', better: 'lower', samples: pick(results, key), target });
  const rows = [
    row('verify-chain', 'one chain verification (leaf + intermediate decoded, CRL check)', 'verifyUs'),
    row('verify-chain-warm', 'one chain verification after a store swap (decoded certificates cached)', 'verifyWarmUs'),
    row('verify-chain-cached', 'the same chain against the same store again (verified-chain cache)', 'verifyCachedUs'),
    // Judged on a policy that declares its facts: that is the cache authorizeRequest builds, and the
    // only key that repeats across requests. A whole-input key names the connection's age in ms.
    row('decision-cached-declared', 'cached decision (cached() hit, factsRead declared)', 'cachedDeclaredHitUs', {
      text: '< 1 µs',
      arm: 'owned',
      below: 1,
    }),
    row('decision-cached', '  the same, policy declares nothing (whole-input key)', 'cachedHitUs'),
    row('decision-cached-evaluate', 'cached decision through evaluatePolicy (async)', 'cachedEvaluateUs'),
    row('decision-function', 'plain function policy through evaluatePolicy (async)', 'functionUs'),
    row('decision-cedar', 'Cedar decision (cedarPolicy.evaluate)', 'cedarUs', {
      text: '< 20 µs',
      arm: 'owned',
      below: 20,
    }),
    row('decision-cedar-evaluate', 'Cedar decision through evaluatePolicy (async)', 'cedarEvaluateUs'),
    row('decision-cedar-wasm', 'Cedar decision, wasm engine (cedar-wasm)', 'cedarWasmUs'),
  ];
  const get = (id) => rows.find((r) => r.id === id);
  ctx.target(
    'decision-cached',
    'cached decision < 1 µs',
    get('decision-cached-declared').target,
    `${fmtSpread(get('decision-cached-declared').spread.owned, 'µs')} per hit (cached().evaluate, factsRead ` +
      `declared); ${fmtSpread(get('decision-cached').spread.owned, 'µs')} on a whole-input key; ` +
      `${fmtSpread(get('decision-cached-evaluate').spread.owned, 'µs')} through evaluatePolicy`,
  );
  ctx.target(
    'decision-cedar',
    'Cedar decision < 20 µs',
    get('decision-cedar').target,
    `${fmtSpread(get('decision-cedar').spread.owned, 'µs')} per decision (default mapping, 2 policies, no entities, ` +
      `${results.owned[0]?.cedarEngine ?? 'wasm'} engine); ` +
      `${fmtSpread(get('decision-cedar-wasm').spread.owned, 'µs')} on the wasm engine`,
  );
  return rows;
}

module.exports = { describe, run };
