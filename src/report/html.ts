/**
 * The run report: one self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched)
 * that summarizes a training run, so a run can be read, archived and compared by opening a single
 * file, long after the terminal output is gone. A Content-Security-Policy in the page forbids
 * scripts and remote loads outright, so even a name that slipped past escaping could not run.
 *
 * Pure string building, no Node modules: the same page can be rendered in a browser.
 * The output is deterministic (no timestamps), so two reports of the same run compare equal.
 */
import { escapeHtml, lineChart, SERIES_COLORS, type ChartSeries } from './svg.js';

/** Mean losses of one locally trained unit ('block 1'.. 'classifier'), and its training accuracy. */
export interface ReportUnitLoss {
  name: string;
  likelihood: number;
  alignment?: number;
  /** Fraction of the training samples its logits classified right (absent in runs logged before it was counted). */
  accuracy?: number;
}

export interface ReportEpoch {
  /** 1-based. */
  epoch: number;
  seconds: number;
  samplesPerSecond: number;
  train: { units: ReportUnitLoss[] };
  /** Fractions in [0, 1]; blockAccuracy[i] is the local head of 'block i+1'. */
  validation?: { accuracy: number; blockAccuracy: number[] };
  /** Bytes per category (parameter, optimizer, projection, activation, scratch, staging). */
  memory: { live: Record<string, number>; peak: Record<string, number> };
}

/** One logged training step. */
export interface ReportStep {
  step: number;
  epoch: number;
  samplesPerSecond: number;
  units: ReportUnitLoss[];
}

export interface ReportTest {
  accuracy: number;
  blockAccuracy: number[];
  /** confusion[true class][predicted class] = count. */
  confusion?: number[][];
}

export interface ReportInput {
  /** E.g. 'mlp 784-1000-1000-1000-10, sll, seed 0'. */
  title: string;
  /** The adapter description line. */
  adapter: string;
  /** Shown as pretty JSON in a collapsed block. */
  config: unknown;
  epochs: ReportEpoch[];
  steps: ReportStep[];
  test?: ReportTest;
  /** E.g. 'finished', 'stopped at epoch 3 (Ctrl-C)', 'stopped: non-finite gradient in block 2 at step 812'. */
  status: string;
}

const MIB = 2 ** 20;

/** The whole report page. Never throws on odd values (NaN, empty lists): it shows them as such. */
export function renderReport(input: ReportInput): string {
  const parts: string[] = [];
  parts.push(
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(input.title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<header>',
    `<h1>${escapeHtml(input.title)}</h1>`,
    `<p class="adapter">${escapeHtml(input.adapter)}</p>`,
    `<p class="status ${/^finished\b/i.test(input.status) ? 'ok' : 'warn'}">${escapeHtml(input.status)}</p>`,
    '</header>',
  );
  parts.push(summarySection(input));
  parts.push(chartsSection(input));
  if (input.test?.confusion) parts.push(confusionSection(input.test.confusion));
  parts.push(
    '<section>',
    '<details>',
    '<summary>Configuration</summary>',
    `<pre>${escapeHtml(configJson(input.config))}</pre>`,
    '</details>',
    '</section>',
    '</body>',
    '</html>',
    '',
  );
  return parts.join('\n');
}

function summarySection(input: ReportInput): string {
  const { epochs, test } = input;
  const lastValidation = [...epochs].reverse().find((epoch) => epoch.validation)?.validation;
  const lastEpoch = epochs[epochs.length - 1];
  const totalSeconds = epochs.reduce((sum, epoch) => sum + epoch.seconds, 0);

  const facts: [string, string][] = [
    ['Status', input.status],
    ['Epochs', String(epochs.length)],
    ['Training time', epochs.length > 0 ? duration(totalSeconds) : '—'],
    ['Last epoch throughput', lastEpoch ? `${formatCount(lastEpoch.samplesPerSecond)} samples/s` : '—'],
    ['Logged steps', String(input.steps.length)],
  ];
  const rows = facts.map(([label, value]) => `<tr><th scope="row">${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`);
  const out = ['<section>', '<h2>Summary</h2>', '<table class="facts">', ...rows, '</table>'];

  // One row per head: the classifier, then each block's local head.
  const blocks = Math.max(lastValidation?.blockAccuracy.length ?? 0, test?.blockAccuracy.length ?? 0);
  if (lastValidation || test) {
    out.push('<table class="accuracy">', '<thead><tr><th scope="col">Head</th><th scope="col">Validation (last)</th><th scope="col">Test</th></tr></thead>', '<tbody>');
    const row = (label: string, validation: number | undefined, testValue: number | undefined) =>
      `<tr><th scope="row">${escapeHtml(label)}</th><td>${percent(validation)}</td><td>${percent(testValue)}</td></tr>`;
    out.push(row('classifier', lastValidation?.accuracy, test?.accuracy));
    for (let i = 0; i < blocks; i++) out.push(row(`block ${i + 1}`, lastValidation?.blockAccuracy[i], test?.blockAccuracy[i]));
    out.push('</tbody>', '</table>');
  } else {
    out.push('<p class="no-data">No validation or test accuracy recorded.</p>');
  }
  out.push('</section>');
  return out.join('\n');
}

function chartsSection(input: ReportInput): string {
  const { epochs, steps } = input;
  const figures: string[] = [];
  // One colour per unit or head name across the loss and accuracy charts ('block 2' is the same
  // colour everywhere), in order of first appearance.
  const unitColors = new Map<string, string>();
  const unitColor = (name: string) => {
    if (!unitColors.has(name)) unitColors.set(name, SERIES_COLORS[unitColors.size % SERIES_COLORS.length]!);
    return unitColors.get(name)!;
  };
  const colored = (series: ChartSeries[]) => series.map((s) => ({ ...s, color: unitColor(s.name) }));
  const figure = (series: ChartSeries[], empty: string, options: { title: string; xLabel: string; yLabel: string; yInclude?: number[] }) => {
    const hasPoints = series.some((s) => s.points.length > 0);
    figures.push(hasPoints ? `<figure>${lineChart({ ...options, series })}</figure>` : `<p class="no-data">${escapeHtml(options.title)}: no data (${escapeHtml(empty)}).</p>`);
  };

  figure(
    colored(unitSeries(epochs.map((epoch) => ({ x: epoch.epoch, units: epoch.train.units })))),
    'no epochs recorded',
    { title: 'Local loss per epoch (likelihood + alignment)', xLabel: 'epoch', yLabel: 'mean loss' },
  );

  const validated = epochs.filter((epoch) => epoch.validation);
  const accuracy: ChartSeries[] = [];
  if (validated.length > 0) {
    accuracy.push({ name: 'classifier', points: validated.map((epoch) => ({ x: epoch.epoch, y: epoch.validation!.accuracy * 100 })) });
    const blocks = Math.max(...validated.map((epoch) => epoch.validation!.blockAccuracy.length));
    for (let i = 0; i < blocks; i++) {
      const points = validated.flatMap((epoch) => {
        const value = epoch.validation!.blockAccuracy[i];
        return value === undefined ? [] : [{ x: epoch.epoch, y: value * 100 }];
      });
      accuracy.push({ name: `block ${i + 1}`, points });
    }
  }
  figure(colored(accuracy), epochs.length === 0 ? 'no epochs recorded' : 'no validation results', {
    title: 'Validation accuracy per epoch',
    xLabel: 'epoch',
    yLabel: 'accuracy (%)',
  });

  figure(
    colored(unitSeries(steps.map((step) => ({ x: step.step, units: step.units })))),
    'no logged steps',
    { title: 'Local loss per logged step (likelihood + alignment)', xLabel: 'step', yLabel: 'loss' },
  );

  figure(
    colored(unitSeries(steps.map((step) => ({ x: step.step, units: step.units })), (unit) => (unit.accuracy === undefined ? undefined : 100 * unit.accuracy))),
    steps.length === 0 ? 'no logged steps' : 'the run was logged before training accuracy was counted',
    { title: 'Training accuracy per logged step (the steps since the previous point)', xLabel: 'step', yLabel: 'accuracy (%)', yInclude: [0, 100] },
  );

  const categories = uniqueInOrder(epochs.flatMap((epoch) => Object.keys(epoch.memory.peak)));
  figure(
    categories.map((category) => ({
      name: category,
      points: epochs.flatMap((epoch) => {
        const bytes = epoch.memory.peak[category];
        return bytes === undefined ? [] : [{ x: epoch.epoch, y: bytes / MIB }];
      }),
    })),
    epochs.length === 0 ? 'no epochs recorded' : 'no memory recorded',
    { title: 'Peak memory by category per epoch', xLabel: 'epoch', yLabel: 'MiB', yInclude: [0] },
  );

  figure(
    steps.length > 0 ? [{ name: 'samples/s', points: steps.map((step) => ({ x: step.step, y: step.samplesPerSecond })) }] : [],
    'no logged steps',
    { title: 'Throughput per logged step', xLabel: 'step', yLabel: 'samples per second', yInclude: [0] },
  );

  return ['<section>', '<h2>Charts</h2>', '<div class="charts">', ...figures, '</div>', '</section>'].join('\n');
}

/**
 * One series per unit name (in first-seen order) of `value` at each x: by default the loss,
 * likelihood plus alignment. A unit with no value (undefined) adds no point, and no series.
 */
function unitSeries(
  rows: readonly { x: number; units: readonly ReportUnitLoss[] }[],
  value: (unit: ReportUnitLoss) => number | undefined = (unit) => unit.likelihood + (unit.alignment ?? 0),
): ChartSeries[] {
  const byName = new Map<string, { x: number; y: number }[]>();
  for (const row of rows) {
    for (const unit of row.units) {
      const y = value(unit);
      if (y === undefined) continue;
      let points = byName.get(unit.name);
      if (!points) byName.set(unit.name, (points = []));
      points.push({ x: row.x, y });
    }
  }
  return [...byName].map(([name, points]) => ({ name, points }));
}

function confusionSection(confusion: readonly (readonly number[])[]): string {
  const classes = Math.max(confusion.length, ...confusion.map((row) => row.length));
  const out = [
    '<section>',
    '<h2>Test confusion matrix</h2>',
    '<p class="note">Rows: true class; columns: predicted class; shading: fraction of the row.</p>',
    '<table class="confusion">',
    `<thead><tr><th scope="col">true \\ predicted</th>${range(classes).map((c) => `<th scope="col">${c}</th>`).join('')}<th scope="col">recall</th></tr></thead>`,
    '<tbody>',
  ];
  for (let r = 0; r < classes; r++) {
    const row = confusion[r] ?? [];
    const total = row.reduce((sum, count) => sum + (Number.isFinite(count) ? count : 0), 0);
    const cells = range(classes).map((c) => {
      const count = row[c];
      if (count === undefined) return '<td></td>';
      const fraction = total > 0 && Number.isFinite(count) ? Math.max(0, Math.min(1, count / total)) : 0;
      const style = fraction > 0 ? ` style="background-color: rgba(0, 114, 178, ${(fraction * 0.85).toFixed(3)})${fraction > 0.5 ? '; color: #fff' : ''}"` : '';
      return `<td${style}${r === c ? ' class="diagonal"' : ''}>${escapeHtml(String(count))}</td>`;
    });
    const correct = row[r];
    const recall = total > 0 && correct !== undefined && Number.isFinite(correct) ? percent(correct / total) : '—';
    out.push(`<tr><th scope="row">${r}</th>${cells.join('')}<td class="recall">${recall}</td></tr>`);
  }
  out.push('</tbody>', '</table>', '</section>');
  return out.join('\n');
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function uniqueInOrder(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** A fraction as a percentage with two decimals; missing or non-finite as a dash or its name. */
function percent(value: number | undefined): string {
  if (value === undefined) return '—';
  if (!Number.isFinite(value)) return escapeHtml(String(value));
  return `${(value * 100).toFixed(2)}%`;
}

function formatCount(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1);
}

/** Seconds as '12.3 s', '4 min 05 s' or '2 h 03 min'. */
function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return String(seconds);
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h} h ${String(m).padStart(2, '0')} min` : `${m} min ${String(s).padStart(2, '0')} s`;
}

/** Pretty JSON of the configuration; BigInts as strings, and a note instead of a throw. */
function configJson(config: unknown): string {
  try {
    return JSON.stringify(config, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2) ?? String(config);
  } catch (error) {
    return `(configuration not representable as JSON: ${(error as Error).message})`;
  }
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; background: #fff; margin: 24px auto; max-width: 1340px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.adapter { color: #555; margin: 0 0 4px; font-family: ui-monospace, monospace; font-size: 12px; }
.status { display: inline-block; padding: 2px 8px; border-radius: 4px; margin: 4px 0; }
.status.ok { background: #e3f4ea; color: #14532d; }
.status.warn { background: #fdf0d8; color: #7a4100; }
table { border-collapse: collapse; margin: 0 0 14px; }
th, td { padding: 3px 10px; border: 1px solid #ddd; text-align: right; font-variant-numeric: tabular-nums; }
th[scope=row] { text-align: left; font-weight: 600; background: #fafafa; }
table.facts td { text-align: left; }
table.confusion td.diagonal { outline: 2px solid #333; outline-offset: -2px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; border: 1px solid #eee; border-radius: 4px; padding: 4px; }
svg.chart { display: block; max-width: 100%; height: auto; font-size: 11px; fill: #333; }
svg.chart .chart-title { font-size: 13px; font-weight: 600; }
svg.chart .axis-label { font-size: 12px; fill: #555; }
svg.chart .no-data, .no-data { color: #888; fill: #888; font-style: italic; }
pre { background: #f6f6f6; padding: 10px; overflow-x: auto; font-size: 12px; }
summary { cursor: pointer; font-weight: 600; }
`;
