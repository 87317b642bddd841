'use strict';
// From per-round samples to a reported row: the median per arm, each ratio
// with its interval over rounds (paired round by round, so drift that hits
// both arms of a round cancels), the A/A control's noise floor, and the
// verdicts that follow from them.
const { median, interval, withNoise, noiseOf, verdict } = require('./stats.js');
const { fmtRatio, fmtNoise } = require('./format.js');

/** Per-round speed ratios of `num` against `den`: > 1 means `num` is better whatever the unit's direction. */
function ratioSamples(samples, num, den, better) {
  const a = samples[num];
  const b = samples[den];
  if (a === undefined || b === undefined) return [];
  const out = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (!Number.isFinite(x) || !Number.isFinite(y) || x <= 0 || y <= 0) continue;
    out.push(better === 'lower' ? y / x : x / y);
  }
  return out;
}

/** The A/A pair for a row: node:tls against its twin, or the library against itself where node:tls has none. */
function controlOf(spec) {
  if (spec.control !== undefined) return spec.control;
  if (spec.samples['node-aa'] !== undefined) return ['node', 'node-aa'];
  if (spec.samples['owned-aa'] !== undefined) return ['owned', 'owned-aa'];
  return null;
}

const MARKS = { met: '+', 'not met': '-', 'inside noise': '~' };

/**
 * spec: { id, label, unit, better, samples: { arm: [value per round] }, note?, control?, noiseFrom?, target? }
 * target: { text, ratio: '<comparison name>', atLeast } judges a ratio;
 *         { text, arm, below } judges an arm's value against an absolute bar (lower is better);
 *         { text, headroom: [per round] } judges a precomputed budget/measured per round.
 */
function finishRow(ctx, spec) {
  const values = {};
  const spread = {};
  for (const [arm, list] of Object.entries(spec.samples)) {
    const numbers = list.filter((v) => typeof v === 'number' && Number.isFinite(v));
    values[arm] = numbers.length > 0 ? median(numbers) : list.find((v) => typeof v === 'string');
    spread[arm] = numbers.length > 0 ? interval(numbers) : null;
  }
  // A row with no A/A pair of its own (a figure node:tls cannot produce) borrows a sibling's noise floor.
  const control = spec.noiseFrom !== undefined ? spec.noiseFrom.control : controlOf(spec);
  const aa =
    spec.noiseFrom !== undefined
      ? spec.noiseFrom.aa
      : control === null
        ? null
        : interval(ratioSamples(spec.samples, control[0], control[1], spec.better));
  const noise = noiseOf(aa);
  const ratios = {};
  for (const { name, num, den } of ctx.comparisons) {
    const r = interval(ratioSamples(spec.samples, num, den, spec.better));
    if (r === null) continue;
    const widened = withNoise(r, noise);
    ratios[name] = { ...widened, mark: MARKS[verdict(widened, 1)] };
  }
  const row = {
    id: spec.id,
    label: spec.label,
    unit: spec.unit,
    better: spec.better,
    note: spec.note,
    values,
    spread,
    ratios,
    aa,
    noise,
    control,
  };
  if (spec.target !== undefined) row.target = judge(spec, row, noise);
  row.samples = spec.samples;
  return row;
}

function judge(spec, row, noise) {
  const t = spec.target;
  let r = null;
  let bar = 1;
  if (t.ratio !== undefined) {
    r = row.ratios[t.ratio] ?? null;
    bar = t.atLeast;
  } else {
    const perRound = t.headroom ?? (spec.samples[t.arm] ?? []).map((v) => t.below / v);
    const h = interval(perRound.filter((v) => Number.isFinite(v) && v > 0));
    r = withNoise(h, noise);
  }
  return { text: t.text, verdict: verdict(r, bar), interval: r, bar };
}

/** The owned tier's goal against node:tls: at least level (1.00x), judged on `row`'s interval. */
const LEVEL = { text: '>= 1.00x node:tls', ratio: 'owned vs node', atLeast: 1 };

/** A summary line for a row judged against LEVEL (nothing under --compare, which has no node:tls ratio). */
function levelGoal(ctx, id, name, row) {
  if (row.target === undefined || ctx.compare !== null) return;
  ctx.target(id, name, row.target, `${fmtRatio(row.ratios['owned vs node'])}; A/A noise ${fmtNoise(row.noise)}`);
}

module.exports = { finishRow, ratioSamples, LEVEL, levelGoal };
