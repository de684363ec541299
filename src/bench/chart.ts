// Charts for the seed table: horizontal bars for a terminal and a grouped bar chart in SVG
// (hand-written markup: no dependency, readable diffs in docs/).

export interface ChartSeries {
  /** Legend label, e.g. "ucrypt over NBD" or "Linux 5.8". */
  readonly label: string;
  readonly color: string;
  /** One value per category (MiB/s). */
  readonly values: readonly number[];
}

export interface ChartPanel {
  readonly title: string;
  /** The value axis label (default MiB/s). */
  readonly unit?: string;
  readonly categories: readonly string[];
  readonly series: readonly ChartSeries[];
}

const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** Bars of `█` (with a partial eighth block) scaled to the largest value across the panels. */
export function terminalBars(panels: readonly ChartPanel[], width = 40): string {
  const max = Math.max(1e-9, ...panels.flatMap((p) => p.series.flatMap((s) => s.values)));
  const labelW = Math.max(...panels.flatMap((p) => p.categories.map((c) => c.length)));
  const seriesW = Math.max(...panels.flatMap((p) => p.series.map((s) => s.label.length)));
  const eighths = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
  let out = '';
  for (const p of panels) {
    out += `\n${p.title}\n`;
    p.categories.forEach((c, i) => {
      p.series.forEach((s, k) => {
        const v = s.values[i] ?? 0;
        const cells = (v / max) * width;
        const full = Math.floor(cells);
        const bar = '█'.repeat(full) + eighths[Math.floor((cells - full) * 8)]!;
        out += `  ${(k === 0 ? c : '').padEnd(labelW)}  ${s.label.padEnd(seriesW)} ${bar} ${fmt(v)}\n`;
      });
    });
  }
  return out;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Axis tick labels: whole numbers when the step allows, else two decimals. */
const tick = (v: number, step: number): string => (step >= 1 ? v.toFixed(0) : v.toFixed(2).replace(/\.?0+$/, '') || '0');

/** Category labels break after a hyphen (`eram0-` / `inline-read`) to fit under their group. */
function labelLines(c: string): string[] {
  const i = c.indexOf('-');
  return i > 0 ? [c.slice(0, i + 1), c.slice(i + 1)] : [c];
}

/** Grouped vertical bar charts, two panels to a row, each with its own value axis. */
export function svgChart(title: string, subtitle: string, panels: readonly ChartPanel[]): string {
  const panelW = 470;
  const plotH = 230;
  const panelH = plotH + 110;
  const head = 64;
  const left = 56;
  const cols = Math.min(2, Math.max(1, panels.length));
  const rows = Math.ceil(panels.length / cols);
  const W = cols * panelW + 20;
  const series = panels[0]?.series ?? [];
  const legendY = head + rows * panelH + 6;
  const H = legendY + 22 * Math.ceil(series.length / 3) + 8;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">`);
  parts.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  parts.push(`<text x="${W / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<text x="${W / 2}" y="46" text-anchor="middle" font-size="12" fill="#555">${esc(subtitle)}</text>`);
  panels.forEach((p, pi) => {
    const x0 = (pi % cols) * panelW + left;
    const top = head + Math.floor(pi / cols) * panelH + 30;
    const plotW = panelW - left - 20;
    const max = Math.max(1e-9, ...p.series.flatMap((s) => s.values));
    // A round axis maximum: 1, 2 or 5 times a power of ten.
    const pow = 10 ** Math.floor(Math.log10(max));
    const axisMax = [1, 2, 5, 10].map((m) => m * pow).find((v) => v >= max * 1.0001) ?? max;
    parts.push(`<text x="${x0 + plotW / 2}" y="${top - 12}" text-anchor="middle" font-size="14" font-weight="bold">${esc(p.title)}</text>`);
    for (let g = 0; g <= 5; g++) {
      const v = (axisMax * g) / 5;
      const y = top + plotH - (v / axisMax) * plotH;
      parts.push(`<line x1="${x0}" y1="${y.toFixed(1)}" x2="${x0 + plotW}" y2="${y.toFixed(1)}" stroke="#ddd"/>`);
      parts.push(`<text x="${x0 - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#555">${tick(v, axisMax / 5)}</text>`);
    }
    const unit = p.unit ?? 'MiB/s';
    parts.push(`<text x="${x0 - 42}" y="${top + plotH / 2}" font-size="11" fill="#555" transform="rotate(-90 ${x0 - 42} ${top + plotH / 2})" text-anchor="middle">${esc(unit)}</text>`);
    const groupW = plotW / p.categories.length;
    const barW = Math.min(28, (groupW - 12) / Math.max(1, p.series.length));
    p.categories.forEach((c, ci) => {
      const gx = x0 + ci * groupW + (groupW - barW * p.series.length) / 2;
      p.series.forEach((s, si) => {
        const v = s.values[ci] ?? 0;
        const h = (v / axisMax) * plotH;
        const x = gx + si * barW;
        const y = top + plotH - h;
        parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${esc(`${c}, ${s.label}: ${fmt(v)} ${unit}`)}</title></rect>`);
        parts.push(`<text x="${(x + (barW - 2) / 2).toFixed(1)}" y="${(y - 3).toFixed(1)}" text-anchor="middle" font-size="9" fill="#333">${fmt(v)}</text>`);
      });
      labelLines(c).forEach((w, wi) => parts.push(`<text x="${(x0 + ci * groupW + groupW / 2).toFixed(1)}" y="${top + plotH + 16 + wi * 13}" text-anchor="middle" font-size="11">${esc(w)}</text>`));
    });
    parts.push(`<line x1="${x0}" y1="${top + plotH}" x2="${x0 + plotW}" y2="${top + plotH}" stroke="#333"/>`);
  });
  series.forEach((s, i) => {
    const lx = 20 + (i % 3) * 300;
    const ly = legendY + Math.floor(i / 3) * 22;
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="14" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 20}" y="${ly + 1}" font-size="12">${esc(s.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
