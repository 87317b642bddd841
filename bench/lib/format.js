'use strict';
// How figures, ratios and their intervals are written, in the table and in target details alike.

function isNum(x) {
  return typeof x === 'number' && Number.isFinite(x);
}

function digitsFor(value) {
  const abs = Math.abs(value);
  return abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 1 ? 2 : 3;
}

function fmt(value, unit) {
  if (!isNum(value)) return value === undefined || value === null ? '—' : String(value);
  const digits = digitsFor(value);
  const text = value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return unit ? `${text} ${unit}` : text;
}

/** "4.19 µs [4.02–4.40]": a value with the interval over rounds. */
function fmtSpread(spread, unit) {
  if (spread === null || spread === undefined) return '—';
  const d = digitsFor(spread.median);
  const n = (v) => v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  return `${n(spread.median)} ${unit} [${n(spread.lo)}–${n(spread.hi)}]`;
}

/** "1.05x [0.98–1.10]": a ratio with its interval over rounds (the noise-widened one when known). */
function fmtRatio(r) {
  if (r === null || r === undefined) return '—';
  const lo = r.effLo ?? r.lo;
  const hi = r.effHi ?? r.hi;
  return `${r.median.toFixed(2)}x [${lo.toFixed(2)}–${hi.toFixed(2)}]`;
}

/** "±3.1%": the A/A control's noise floor. */
function fmtNoise(noise) {
  return isNum(noise) ? `±${(noise * 100).toFixed(1)}%` : '—';
}

module.exports = { isNum, fmt, fmtSpread, fmtRatio, fmtNoise };
