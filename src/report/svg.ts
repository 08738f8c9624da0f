/**
 * Small SVG line charts for the run report, as strings: no DOM, no scripts, no fonts or other
 * assets to fetch, so the page they go into is one self-contained file that opens anywhere.
 *
 * Training logs are messy, and a report is most wanted when a run went wrong, so the chart must
 * draw whatever it is given: non-finite values (a diverged loss) break the line instead of
 * poisoning the scale, a constant series or a single point gets a padded range instead of a
 * division by zero, and a chart with nothing finite to draw says so. Every piece of text is
 * escaped, since unit names and titles come from configuration.
 */

export interface ChartPoint {
  x: number;
  y: number;
}

export interface ChartSeries {
  name: string;
  /** In drawing order; a point with a non-finite x or y is left out and breaks the line there. */
  points: readonly ChartPoint[];
  /** A CSS colour; default SERIES_COLORS by position. */
  color?: string;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  /** Outer size in pixels (defaults 640 x 320, plus the legend's rows). */
  width?: number;
  height?: number;
  /** Forces the y range to include these values (e.g. 0 for byte counts, 100 for percentages). */
  yInclude?: readonly number[];
}

/** Escapes text for HTML and XML content and for attribute values in either quote. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** A colour-blind-friendly categorical palette (Okabe-Ito, then darker variants). */
export const SERIES_COLORS: readonly string[] = [
  '#0072b2', '#e69f00', '#009e73', '#d55e00', '#cc79a7', '#56b4e9', '#f0e442', '#000000',
  '#004f7c', '#a36f00', '#006e50', '#953f00',
];

/**
 * Round tick values covering [min, max]: about `count` steps of 1, 2 or 5 times a power of ten,
 * the first at or below min and the last at or above max. Equal or non-finite bounds are padded
 * first, so the result always has at least two ticks and a non-zero span.
 */
export function niceTicks(min: number, max: number, count = 5): number[] {
  [min, max] = paddedRange(min, max);
  const span = max - min;
  if (!Number.isFinite(span)) return [min, max];
  const raw = span / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  const step = (residual > 5 ? 10 : residual > 2 ? 5 : residual > 1 ? 2 : 1) * magnitude;
  const first = Math.floor(min / step);
  const last = Math.ceil(max / step);
  // Decimal places of the step, to strip float noise (0.30000000000000004) from the ticks.
  const decimals = Math.max(0, Math.min(20, -Math.floor(Math.log10(step)) + 1));
  const ticks: number[] = [];
  for (let i = first; i <= last && ticks.length <= 100; i++) ticks.push(Number((i * step).toFixed(decimals)));
  return ticks.length >= 2 ? ticks : [min, max];
}

/**
 * A range with non-zero finite span: a single value v becomes v +- 1 when it is a small integer
 * (an epoch, a step: whole-number ticks), else v +- 10% of |v|.
 */
function paddedRange(min: number, max: number): [number, number] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (min > max) [min, max] = [max, min];
  if (max - min > 0) return [min, max];
  const pad = Number.isInteger(min) && Math.abs(min) < 1e4 ? 1 : Math.abs(min) * 0.1;
  return [min - pad, max + pad];
}

/** A tick label: as many decimals as the tick spacing needs; exponents for very large or small. */
export function formatTick(value: number, step: number): string {
  if (value === 0) return '0';
  const size = Math.abs(value);
  if (size >= 1e6 || size < 1e-4) return value.toExponential(2);
  const decimals = step > 0 && Number.isFinite(step) ? Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9))) : 2;
  return value.toFixed(decimals);
}

/** A coordinate for path data: 2 decimals, never NaN (callers only pass finite values). */
function coord(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/**
 * One line chart as an `<svg>` element: title, axes with round ticks and grid lines, axis labels,
 * one `<path>` per series (with `data-series` naming it, and a dot for a point with no finite
 * neighbour), and a legend below. With no finite point in any series it draws the frame and a
 * 'no data' note.
 */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 640;
  const baseHeight = options.height ?? 320;
  const margin = { left: 64, right: 16, top: 28, bottom: 44 };

  // The legend wraps into rows under the plot; widths are estimated (about 7 px a character).
  const legendItems = options.series.map((series, index) => ({ series, index, width: 28 + Math.min(40, series.name.length) * 7 + 16 }));
  const legendRows: (typeof legendItems)[] = [];
  let rowWidth = Infinity;
  for (const item of legendItems) {
    if (rowWidth + item.width > width - margin.left - margin.right) {
      legendRows.push([]);
      rowWidth = 0;
    }
    legendRows[legendRows.length - 1]!.push(item);
    rowWidth += item.width;
  }
  const legendHeight = legendRows.length * 18;
  const height = baseHeight + legendHeight;
  const plot = { x: margin.left, y: margin.top, w: width - margin.left - margin.right, h: baseHeight - margin.top - margin.bottom };

  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const series of options.series) {
    for (const { x, y } of series.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      xMin = Math.min(xMin, x);
      xMax = Math.max(xMax, x);
      yMin = Math.min(yMin, y);
      yMax = Math.max(yMax, y);
    }
  }
  const hasData = xMin <= xMax;
  if (hasData) {
    for (const v of options.yInclude ?? []) {
      if (!Number.isFinite(v)) continue;
      yMin = Math.min(yMin, v);
      yMax = Math.max(yMax, v);
    }
  }

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(options.title)}">`,
  );
  out.push(`<title>${escapeHtml(options.title)}</title>`);
  out.push(`<text class="chart-title" x="${width / 2}" y="18" text-anchor="middle">${escapeHtml(options.title)}</text>`);
  out.push(`<rect class="plot" x="${plot.x}" y="${plot.y}" width="${plot.w}" height="${plot.h}" fill="none" stroke="#999"/>`);
  out.push(
    `<text class="axis-label" x="${plot.x + plot.w / 2}" y="${plot.y + plot.h + 36}" text-anchor="middle">${escapeHtml(options.xLabel)}</text>`,
  );
  out.push(
    `<text class="axis-label" transform="translate(14 ${plot.y + plot.h / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(options.yLabel)}</text>`,
  );

  if (!hasData) {
    out.push(`<text class="no-data" x="${plot.x + plot.w / 2}" y="${plot.y + plot.h / 2}" text-anchor="middle">no data</text>`);
  } else {
    const xTicks = niceTicks(xMin, xMax, 6);
    const yTicks = niceTicks(yMin, yMax, 5);
    const x0 = xTicks[0]!;
    const x1 = xTicks[xTicks.length - 1]!;
    const y0 = yTicks[0]!;
    const y1 = yTicks[yTicks.length - 1]!;
    // The tick ends have a non-zero span (niceTicks pads), so these never divide by zero.
    const sx = (x: number) => plot.x + ((x - x0) / (x1 - x0)) * plot.w;
    const sy = (y: number) => plot.y + plot.h - ((y - y0) / (y1 - y0)) * plot.h;
    const xStep = (xTicks[1] ?? x1) - x0;
    const yStep = (yTicks[1] ?? y1) - y0;

    for (const t of xTicks) {
      const px = sx(t);
      if (!Number.isFinite(px)) continue;
      out.push(`<line class="grid" x1="${coord(px)}" y1="${plot.y}" x2="${coord(px)}" y2="${plot.y + plot.h}" stroke="#e4e4e4"/>`);
      out.push(`<text class="tick" x="${coord(px)}" y="${plot.y + plot.h + 16}" text-anchor="middle">${escapeHtml(formatTick(t, xStep))}</text>`);
    }
    for (const t of yTicks) {
      const py = sy(t);
      if (!Number.isFinite(py)) continue;
      out.push(`<line class="grid" x1="${plot.x}" y1="${coord(py)}" x2="${plot.x + plot.w}" y2="${coord(py)}" stroke="#e4e4e4"/>`);
      out.push(`<text class="tick" x="${plot.x - 6}" y="${coord(py + 4)}" text-anchor="end">${escapeHtml(formatTick(t, yStep))}</text>`);
    }

    options.series.forEach((series, index) => {
      const color = escapeHtml(series.color ?? SERIES_COLORS[index % SERIES_COLORS.length]!);
      // Segments of consecutive drawable points; anything non-finite ends a segment.
      const segments: [number, number][][] = [[]];
      for (const { x, y } of series.points) {
        const px = sx(x);
        const py = sy(y);
        if (Number.isFinite(x) && Number.isFinite(y) && Number.isFinite(px) && Number.isFinite(py)) {
          segments[segments.length - 1]!.push([px, py]);
        } else if (segments[segments.length - 1]!.length > 0) {
          segments.push([]);
        }
      }
      const drawn = segments.filter((segment) => segment.length > 0);
      if (drawn.length === 0) return;
      const d = drawn.map((segment) => segment.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${coord(px)} ${coord(py)}`).join(' ')).join(' ');
      out.push(
        `<path class="series" data-series="${escapeHtml(series.name)}" d="${d}" fill="none" stroke="${color}" stroke-width="1.75" stroke-linejoin="round"/>`,
      );
      for (const segment of drawn) {
        if (segment.length !== 1) continue;
        const [px, py] = segment[0]!;
        out.push(`<circle class="point" cx="${coord(px)}" cy="${coord(py)}" r="2.5" fill="${color}"/>`);
      }
    });
  }

  legendRows.forEach((row, r) => {
    let x = plot.x;
    const y = baseHeight + r * 18 + 4;
    for (const item of row) {
      const color = escapeHtml(item.series.color ?? SERIES_COLORS[item.index % SERIES_COLORS.length]!);
      out.push(`<line x1="${x}" y1="${y}" x2="${x + 20}" y2="${y}" stroke="${color}" stroke-width="3"/>`);
      const name = item.series.name.length > 40 ? `${item.series.name.slice(0, 39)}…` : item.series.name;
      out.push(`<text class="legend" x="${x + 26}" y="${y + 4}">${escapeHtml(name)}</text>`);
      x += item.width;
    }
  });

  out.push('</svg>');
  return out.join('\n');
}
