'use strict';

function sorted(values) {
  return Float64Array.from(values).sort();
}

/** Nearest-rank percentile of already sorted values (p in 0..100). */
function percentile(sortedValues, p) {
  if (sortedValues.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sortedValues.length);
  return sortedValues[Math.min(sortedValues.length - 1, Math.max(0, rank - 1))];
}

function median(values) {
  return percentile(sorted(values), 50);
}

function summary(values) {
  const s = sorted(values);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), min: s[0], max: s[s.length - 1] };
}

module.exports = { percentile, median, summary, sorted };
