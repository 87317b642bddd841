'use strict';
// Output of a run: the stdout table, the JSON document and the SVG chart.

/** Speed relative to node:tls, >1 = better than node:tls, whatever the unit's direction. */
function speedRatio(row, against = 'node') {
  const ours = row.values.owned;
  const base = row.values[against];
  if (!isNum(ours) || !isNum(base) || ours === 0 || base === 0) return null;
  return row.better === 'lower' ? base / ours : ours / base;
}

function attachedRatio(row) {
  const ours = row.values.attached;
  const base = row.values.node;
  if (!isNum(ours) || !isNum(base) || ours === 0 || base === 0) return null;
  return row.better === 'lower' ? base / ours : ours / base;
}

function isNum(x) {
  return typeof x === 'number' && Number.isFinite(x);
}

function fmt(value, unit) {
  if (!isNum(value)) return value === undefined || value === null ? '—' : String(value);
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 2 : abs >= 1 ? 2 : 3;
  const text = value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return unit ? `${text} ${unit}` : text;
}

function fmtRatio(r) {
  return r === null ? '—' : `${r.toFixed(2)}x`;
}

function table(rows, targets) {
  const header = ['metric', 'owned', 'node:tls', 'attached', 'owned vs node', 'attached vs node', 'target'];
  const lines = rows.map((row) => {
    const target = row.target ? `${row.target.met === null ? '?' : row.target.met ? 'MET' : 'NOT MET'}: ${row.target.text}` : '';
    return [
      row.label,
      fmt(row.values.owned, row.unit),
      fmt(row.values.node, row.unit),
      fmt(row.values.attached, row.unit),
      fmtRatio(speedRatio(row)),
      fmtRatio(attachedRatio(row)),
      target,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const render = (cells) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const out = [render(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const line of lines) out.push(render(line));
  out.push('');
  out.push('Ratios are speed relative to node:tls measured in this run: > 1.00x means better (more per second, or less time/CPU).');
  if (targets.length > 0) {
    out.push('');
    out.push('Targets (issue 5):');
    for (const t of targets) out.push(`  [${t.met === null ? ' ? ' : t.met ? 'MET' : 'NOT MET'}] ${t.name}: ${t.detail}`);
  }
  return out.join('\n');
}

// ---- SVG ---------------------------------------------------------------------

function esc(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A hand-written horizontal bar chart in two panels: speed vs node:tls per
 * metric (owned, and attached where measured), and headroom against the
 * absolute targets (budget / measured). Each panel has its 1.0 line.
 */
const SHORT = {
  handshakes: 'handshakes/s (each tier its own client)',
  'handshakes-node-client': 'handshakes/s (node:tls clients)',
  'handshake-server-cpu': 'server CPU per handshake',
  'handshake-client-cpu': 'client CPU per handshake',
  'bulk-up': 'bulk MB/s client→server',
  'bulk-down': 'bulk MB/s server→client',
  'bulk-up-cpu': 'CPU per MB client→server',
  'bulk-down-cpu': 'CPU per MB server→client',
  rps: '1 KB round trips/s',
  'rps-cpu': 'CPU per 1 KB round trip',
  'rps-p50': '1 KB round trip p50 (loaded)',
  'echo-p50': 'echo round trip p50',
  'echo-p99': 'echo round trip p99',
  rest: 'REST requests/s',
  'rest-authz': 'REST requests/s with authorizeRequest',
  'rest-authz-kept': 'REST share kept with authorizeRequest',
};

function svg(rows, targets, meta) {
  const vsNode = [];
  for (const row of rows) {
    const label = SHORT[row.id] ?? row.label.trim();
    const owned = speedRatio(row);
    if (owned !== null) vsNode.push({ label, value: owned, series: 'owned' });
    const attached = attachedRatio(row);
    if (attached !== null) vsNode.push({ label, value: attached, series: 'attached' });
  }
  const headroom = targets
    .filter((t) => isNum(t.headroom))
    .map((t) => ({ label: t.name, value: t.headroom, series: t.met ? 'met' : 'missed' }));

  const W = 960;
  const labelW = 400;
  const barMax = W - labelW - 90;
  const barH = 16;
  const gap = 6;
  const colors = { owned: '#2b6cb0', attached: '#9f7aea', met: '#2f855a', missed: '#c53030' };
  let y = 0;
  const parts = [];
  const text = (x, yy, s, extra = '') => parts.push(`<text x="${x}" y="${yy}" ${extra}>${esc(s)}</text>`);

  y += 28;
  text(16, y, 'continuous-tls benchmark', 'font-size="18" font-weight="bold"');
  y += 18;
  text(16, y, `${meta.date} · ${meta.machine} · ${meta.mode}`, 'font-size="12" fill="#555"');

  const panel = (title, subtitle, items) => {
    if (items.length === 0) return;
    y += 30;
    text(16, y, title, 'font-size="14" font-weight="bold"');
    y += 16;
    text(16, y, subtitle, 'font-size="11" fill="#555"');
    y += 10;
    const maxValue = Math.max(2, ...items.map((i) => Math.min(i.value, 10)));
    const scale = barMax / maxValue;
    const top = y;
    for (const item of items) {
      const len = Math.max(1, Math.min(item.value, maxValue) * scale);
      const label = item.series === 'attached' ? `${item.label} · attached` : item.label;
      text(labelW - 8, y + barH - 4, label, 'font-size="11" text-anchor="end"');
      parts.push(`<rect x="${labelW}" y="${y}" width="${len.toFixed(1)}" height="${barH}" fill="${colors[item.series]}"/>`);
      const shown = item.value > maxValue ? `${item.value.toFixed(2)}x (clipped)` : `${item.value.toFixed(2)}x`;
      text(labelW + len + 6, y + barH - 4, shown, 'font-size="11"');
      y += barH + gap;
    }
    const x1 = labelW + scale;
    parts.push(`<line x1="${x1.toFixed(1)}" y1="${top - 4}" x2="${x1.toFixed(1)}" y2="${y}" stroke="#000" stroke-dasharray="4 3"/>`);
    text(x1, y + 12, '1.0', 'font-size="10" text-anchor="middle"');
    y += 14;
  };
  panel('Speed vs node:tls (same run)', 'owned tier (blue), attached tier (purple); > 1.0 = faster or cheaper than node:tls', vsNode);
  panel('Headroom vs absolute targets', 'target budget / measured (or measured / required ratio); >= 1.0 = target met (green), < 1.0 = missed (red)', headroom);
  y += 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${y}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

module.exports = { table, svg, speedRatio, attachedRatio, fmt };
