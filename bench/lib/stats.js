'use strict';
// Order statistics for latency lists, and the interval and verdict rules every
// reported ratio goes through (bench/README.md explains them for readers).

function sorted(values) {
  return Float64Array.from(values).sort();
}

/** Nearest-rank percentile of already sorted values (p in 0..100). */
function percentile(sortedValues, p) {
  if (sortedValues.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sortedValues.length);
  return sortedValues[Math.min(sortedValues.length - 1, Math.max(0, rank - 1))];
}

/** The middle value, or the mean of the middle two: with a handful of rounds the lower one alone would be a minimum. */
function median(values) {
  const s = sorted(values);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function summary(values) {
  const s = sorted(values);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), min: s[0], max: s[s.length - 1] };
}

// Below this many rounds a bootstrap only reshuffles a handful of values and
// claims more certainty than it has: min–max is the honest interval then.
const BOOTSTRAP_MIN_ROUNDS = 6;
const BOOTSTRAP_RESAMPLES = 2000;

/** A small seeded generator (mulberry32): the same samples give the same interval on every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The median of per-round values and the interval it is known to: a
 * percentile bootstrap 95% interval of the median over rounds, or min–max
 * when there are too few rounds for a bootstrap to mean anything.
 */
function interval(values) {
  const list = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (list.length === 0) return null;
  const mid = median(list);
  if (list.length < BOOTSTRAP_MIN_ROUNDS) {
    return { median: mid, lo: Math.min(...list), hi: Math.max(...list), n: list.length, method: 'min-max' };
  }
  const random = rng(0x5eed + list.length);
  const medians = new Float64Array(BOOTSTRAP_RESAMPLES);
  const pick = new Float64Array(list.length);
  for (let b = 0; b < BOOTSTRAP_RESAMPLES; b++) {
    for (let i = 0; i < list.length; i++) pick[i] = list[Math.floor(random() * list.length)];
    medians[b] = median(pick);
  }
  medians.sort();
  return {
    median: mid,
    lo: percentile(medians, 2.5),
    hi: percentile(medians, 97.5),
    n: list.length,
    method: 'bootstrap95',
  };
}

/**
 * Widens a ratio's interval to at least the A/A control's drift: a ratio
 * cannot be known more tightly than node:tls is known against itself in the
 * same harness, however tight its own rounds look. Ratios compose by
 * multiplication, so the widening is too: [median / (1 + noise), median * (1 + noise)].
 */
function withNoise(ratio, noise) {
  if (ratio === null) return null;
  if (noise === null || !Number.isFinite(noise)) return { ...ratio, effLo: ratio.lo, effHi: ratio.hi };
  return {
    ...ratio,
    effLo: Math.min(ratio.lo, ratio.median / (1 + noise)),
    effHi: Math.max(ratio.hi, ratio.median * (1 + noise)),
  };
}

/** The A/A control's noise: its largest drift from 1.00x either way, as a fraction (0.03 = ±3 %). */
function noiseOf(aa) {
  if (aa === null || !(aa.lo > 0)) return null;
  return Math.max(aa.hi, 1 / aa.lo) - 1;
}

/**
 * Met only when the whole (noise-widened) interval clears the bar, not met
 * when the whole of it misses, and "inside noise" when it straddles the bar.
 * `atLeast` for speed ratios and headroom (>= bar is good). A single round
 * never decides.
 */
function verdict(r, atLeast) {
  if (r === null) return null;
  // One round has no spread: whatever its A/A twin did, it cannot show a difference beyond noise.
  if (r.n < 2) return 'inside noise';
  if (r.effLo >= atLeast) return 'met';
  if (r.effHi < atLeast) return 'not met';
  return 'inside noise';
}

module.exports = { percentile, median, summary, sorted, interval, withNoise, noiseOf, verdict, BOOTSTRAP_MIN_ROUNDS };
