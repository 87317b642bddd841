'use strict';
// Output of a run: the stdout table, the JSON document and the SVG chart.
const { isNum, fmt, fmtSpread, fmtRatio, fmtNoise } = require('./format.js');

const ARM_COLUMNS = {
  plain: [
    ['owned', 'owned'],
    ['node', 'node:tls'],
    ['attached', 'attached'],
  ],
  compare: [
    ['owned', 'owned new'],
    ['owned@old', 'owned old'],
    ['node', 'node:tls'],
    ['attached', 'attached new'],
    ['attached@old', 'attached old'],
  ],
};

const VERDICT_TEXT = { met: 'MET', 'not met': 'NOT MET', 'inside noise': 'INSIDE NOISE' };
const verdictText = (v) => VERDICT_TEXT[v] ?? '?';

function table(rows, targets, { compare, comparisons }) {
  const arms = ARM_COLUMNS[compare ? 'compare' : 'plain'];
  const header = [
    'metric',
    ...arms.map(([, title]) => title),
    ...comparisons.map((c) => c.name),
    'A/A noise',
    'target',
  ];
  const lines = rows.map((row) => {
    const noRatios = Object.keys(row.ratios).length === 0;
    return [
      row.label,
      ...arms.map(([id]) =>
        noRatios && row.spread[id] ? fmtSpread(row.spread[id], row.unit) : fmt(row.values[id], row.unit),
      ),
      ...comparisons.map((c) =>
        row.ratios[c.name] ? `${fmtRatio(row.ratios[c.name])} ${row.ratios[c.name].mark}` : '',
      ),
      fmtNoise(row.noise),
      row.target && !compare ? `${verdictText(row.target.verdict)}: ${row.target.text}` : '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const render = (cells) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const out = [render(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const line of lines) out.push(render(line));
  out.push('');
  out.push(
    compare
      ? 'Ratios are the new build against the old one, paired round by round: > 1.00x means the new build is better.'
      : 'Ratios are speed relative to node:tls, paired round by round: > 1.00x means better ' +
          '(more per second, less time or CPU).',
  );
  out.push('[lo–hi] is the interval over rounds (bootstrap 95% of the median from 6 rounds up, min–max below),');
  out.push(
    'widened to at least the A/A noise: ± the largest drift of node:tls against its identical twin (the owned tier',
  );
  out.push(
    'against itself where node:tls has no counterpart). + better beyond noise, - worse beyond noise, ~ inside noise.',
  );
  if (compare) {
    out.push('', 'Targets are judged against node:tls in a plain run (without --compare).');
  } else if (targets.length > 0) {
    out.push('', 'Targets (met only when the whole interval clears the bar):');
    for (const t of targets) out.push(`  [${verdictText(t.verdict)}] ${t.name}: ${t.detail}`);
  }
  return out.join('\n');
}

/** The JSON rows: per-round samples kept as numbers, rounded for a readable diff. */
function jsonRows(rows) {
  return rows.map(({ samples, ...row }) => ({
    ...row,
    samples: Object.fromEntries(
      Object.entries(samples).map(([arm, list]) => [arm, list.map((v) => (isNum(v) ? +v.toPrecision(6) : v))]),
    ),
  }));
}

// ---- SVG ---------------------------------------------------------------------

function esc(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const SERIES_COLORS = ['#2b6cb0', '#9f7aea'];
const VERDICT_COLORS = { met: '#2f855a', 'not met': '#c53030', 'inside noise': '#b7791f' };

/**
 * A hand-written horizontal bar chart in two panels, each bar with its
 * interval as a whisker: every ratio a row reports, and headroom against the
 * targets (measured ratio / bar, or bar / measured value). Each panel has its
 * 1.0 line.
 */
function svg(rows, targets, meta, comparisons) {
  const ratioItems = [];
  for (const row of rows) {
    comparisons.forEach((c, i) => {
      const r = row.ratios[c.name];
      if (r)
        ratioItems.push({
          label: `${row.label.trim()} · ${c.name}`,
          value: r.median,
          lo: r.effLo,
          hi: r.effHi,
          color: SERIES_COLORS[i % 2],
        });
    });
  }
  const headroom = targets
    .filter((t) => t.interval)
    .map((t) => ({
      label: t.name,
      value: t.interval.median / t.bar,
      lo: t.interval.effLo / t.bar,
      hi: t.interval.effHi / t.bar,
      color: VERDICT_COLORS[t.verdict] ?? '#718096',
    }));

  const W = 1100;
  const labelW = 560;
  const barMax = W - labelW - 110;
  const barH = 14;
  const gap = 6;
  let y = 0;
  const parts = [];
  const text = (x, yy, s, extra = '') => parts.push(`<text x="${x}" y="${yy}" ${extra}>${esc(s)}</text>`);

  y += 28;
  text(16, y, 'continuous-tls benchmark', 'font-size="18" font-weight="bold"');
  y += 18;
  text(
    16,
    y,
    `${meta.date} · ${meta.machine} · ${meta.mode} · ${meta.rounds} rounds · ${meta.pinning}`,
    'font-size="12" fill="#555"',
  );

  const panel = (title, subtitle, items) => {
    if (items.length === 0) return;
    y += 30;
    text(16, y, title, 'font-size="14" font-weight="bold"');
    y += 16;
    text(16, y, subtitle, 'font-size="11" fill="#555"');
    y += 10;
    // Past 3x the detail near 1.0, where the verdicts are decided, would be squeezed out of sight.
    const maxValue = Math.min(3, Math.max(2, ...items.map((i) => i.hi ?? i.value)));
    const scale = barMax / maxValue;
    const top = y;
    for (const item of items) {
      const x = (v) => labelW + Math.max(1, Math.min(v, maxValue) * scale);
      text(labelW - 8, y + barH - 3, item.label, 'font-size="11" text-anchor="end"');
      parts.push(
        `<rect x="${labelW}" y="${y}" width="${(x(item.value) - labelW).toFixed(1)}" ` +
          `height="${barH}" fill="${item.color}"/>`,
      );
      if (isNum(item.lo) && isNum(item.hi)) {
        const mid = y + barH / 2;
        parts.push(
          `<line x1="${x(item.lo).toFixed(1)}" y1="${mid}" x2="${x(item.hi).toFixed(1)}" y2="${mid}" stroke="#000"/>`,
        );
        for (const v of [item.lo, item.hi])
          parts.push(
            `<line x1="${x(v).toFixed(1)}" y1="${y + 3}" x2="${x(v).toFixed(1)}" y2="${y + barH - 3}" stroke="#000"/>`,
          );
      }
      const range = isNum(item.lo) ? ` [${item.lo.toFixed(2)}–${item.hi.toFixed(2)}]` : '';
      const shown = `${item.value.toFixed(2)}x${range}${item.value > maxValue ? ' (clipped)' : ''}`;
      text(+(x(Math.max(item.value, item.hi ?? 0)) + 6).toFixed(1), y + barH - 3, shown, 'font-size="11"');
      y += barH + gap;
    }
    const one = labelW + scale;
    parts.push(
      `<line x1="${one.toFixed(1)}" y1="${top - 4}" x2="${one.toFixed(1)}" y2="${y}" ` +
        `stroke="#000" stroke-dasharray="4 3"/>`,
    );
    text(one, y + 12, '1.0', 'font-size="10" text-anchor="middle"');
    y += 14;
  };
  panel(
    'Ratios (same run, paired by round)',
    'bars: median; whiskers: interval over rounds, widened to the A/A noise; > 1.0 = better',
    ratioItems,
  );
  panel('Headroom against the targets', 'green met (whole interval >= 1.0), red not met, amber inside noise', headroom);
  y += 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${y}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

module.exports = { table, svg, jsonRows, verdictText };
