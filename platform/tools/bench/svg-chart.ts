/**
 * Charts as standalone SVG text: no script, no stylesheet, no font or file from anywhere else, so a
 * report is one file that opens offline, and a chart saved alone is an image BENCHMARKS.md can embed.
 */

export interface Series {
  name: string;
  points: Array<[number, number]>;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf'];
const MARGIN = { left: 64, right: 16, top: 40, bottom: 64 };

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 0 and about five round steps up to at least `max`. */
function niceTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  return Array.from({ length: Math.ceil(max / step) + 1 }, (_, i) => Number((i * step).toPrecision(6)));
}

const formatTick = (n: number) => (Math.abs(n) >= 10_000 ? `${n / 1000}k` : String(n));

interface Frame {
  width: number;
  height: number;
  x: (v: number) => number;
  y: (v: number) => number;
  body: string[];
}

/** The SVG around a plot: title, axes, grid and tick labels for the y range [0, yMax]. */
function frame(options: ChartOptions, xMin: number, xMax: number, yMax: number): Frame {
  const width = options.width ?? 760;
  const height = options.height ?? 300;
  const ticks = niceTicks(yMax);
  const top = ticks[ticks.length - 1]!;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const x = (v: number) => MARGIN.left + (xMax === xMin ? plotW / 2 : ((v - xMin) / (xMax - xMin)) * plotW);
  const y = (v: number) => MARGIN.top + plotH - (v / top) * plotH;
  const body = [
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
    ...ticks.map(
      (t) =>
        `<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>` +
        `<text x="${MARGIN.left - 6}" y="${y(t) + 4}" text-anchor="end" font-size="11">${formatTick(t)}</text>`,
    ),
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${height - 8}" text-anchor="middle" font-size="12">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(14 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(options.yLabel)}</text>`,
  ];
  return { width, height, x, y, body };
}

function legend(names: string[], f: Frame): string[] {
  let lx = MARGIN.left;
  return names.map((name, i) => {
    const ly = f.height - 30;
    const x = lx;
    // About 6.5 px per character at font-size 11, then a gap: entries never overlap.
    lx += 40 + name.length * 6.5;
    return `<rect x="${x}" y="${ly - 9}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${x + 16}" y="${ly + 1}" font-size="11">${escapeXml(name)}</text>`;
  });
}

function svg(f: Frame, title: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" ` +
    `font-family="sans-serif" role="img" aria-label="${escapeXml(title)}">${f.body.join('')}</svg>`
  );
}

/** One line per series over a numeric x axis. */
export function lineChart(options: ChartOptions, series: readonly Series[]): string {
  const all = series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const f = frame(options, Math.min(0, ...xs), Math.max(1, ...xs), Math.max(0, ...all.map(([, y]) => y)));
  const xTicks = niceTicks(Math.max(1, ...xs));
  f.body.push(...xTicks.filter((t) => t <= Math.max(1, ...xs)).map((t) => `<text x="${f.x(t)}" y="${f.y(0) + 16}" text-anchor="middle" font-size="11">${formatTick(t)}</text>`));
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${f.x(x).toFixed(1)},${f.y(y).toFixed(1)}`).join('');
    f.body.push(`<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.8"/>`);
  });
  f.body.push(...legend(series.map((s) => s.name), f));
  return svg(f, options.title);
}

/** Grouped bars: one group per category, one bar per series, its value written above it. */
export function barChart(options: ChartOptions, categories: readonly string[], series: ReadonlyArray<{ name: string; values: number[] }>): string {
  const f = frame(options, 0, 1, Math.max(0, ...series.flatMap((s) => s.values)));
  const plotW = f.width - MARGIN.left - MARGIN.right;
  const groupW = plotW / Math.max(1, categories.length);
  const barW = (groupW * 0.8) / Math.max(1, series.length);
  categories.forEach((category, c) => {
    const gx = MARGIN.left + c * groupW + groupW * 0.1;
    f.body.push(`<text x="${gx + groupW * 0.4}" y="${f.y(0) + 16}" text-anchor="middle" font-size="11">${escapeXml(category)}</text>`);
    series.forEach((s, i) => {
      const value = s.values[c] ?? 0;
      const x = gx + i * barW;
      const top = f.y(value);
      // A path, like the lines: the report test counts drawn paths.
      f.body.push(`<path d="M${x.toFixed(1)},${f.y(0).toFixed(1)}V${top.toFixed(1)}h${(barW - 2).toFixed(1)}V${f.y(0).toFixed(1)}Z" fill="${COLORS[i % COLORS.length]}"/>`);
      f.body.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(top - 3).toFixed(1)}" text-anchor="middle" font-size="10">${formatValue(value)}</text>`);
    });
  });
  f.body.push(...legend(series.map((s) => s.name), f));
  return svg(f, options.title);
}

const formatValue = (n: number) => (Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(2));
