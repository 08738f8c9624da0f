// Run report: the page is balanced HTML with one SVG per chart, text is escaped, non-finite
// values leave gaps (never NaN in path data), empty runs render notes, and each series' path
// has one point per finite value. Host-side only: no device is opened.
import { describe, expect, it } from 'vitest';
import { renderReport, type ReportEpoch, type ReportInput } from '../src/report/html.js';
import { escapeHtml, formatTick, lineChart, niceTicks } from '../src/report/svg.js';

const MIB = 2 ** 20;

function epoch(n: number, overrides: Partial<ReportEpoch> = {}): ReportEpoch {
  return {
    epoch: n,
    seconds: 12.5,
    samplesPerSecond: 4000 + n,
    train: { units: [{ name: 'block 1', likelihood: 2 / n, alignment: 0.1 }, { name: 'block 2', likelihood: 1.5 / n }, { name: 'classifier', likelihood: 1 / n }] },
    validation: { accuracy: 0.8 + n / 100, blockAccuracy: [0.7 + n / 100, 0.75 + n / 100] },
    memory: {
      live: { parameter: 10 * MIB, optimizer: 20 * MIB },
      peak: { parameter: 10 * MIB, optimizer: 20 * MIB, activation: (30 + n) * MIB, scratch: 2 * MIB },
    },
    ...overrides,
  };
}

function sampleInput(overrides: Partial<ReportInput> = {}): ReportInput {
  return {
    title: 'mlp 784-1000-1000-1000-10, sll, seed 0',
    adapter: 'llvmpipe (vulkan, fallback)',
    config: { model: 'mlp', hidden: [1000, 1000, 1000], lr: 0.001, seed: 0 },
    epochs: [epoch(1), epoch(2), epoch(3)],
    steps: Array.from({ length: 12 }, (_, i) => ({
      step: (i + 1) * 100,
      epoch: 1 + Math.floor(i / 4),
      samplesPerSecond: 3900 + i,
      units: [{ name: 'block 1', likelihood: 2 - i / 10, alignment: 0.05, accuracy: 0.5 + i / 40 }, { name: 'classifier', likelihood: 1 - i / 20, accuracy: 0.6 + i / 40 }],
    })),
    test: { accuracy: 0.8812, blockAccuracy: [0.75, 0.8], confusion: [[50, 2, 1], [3, 40, 0], [0, 5, 60]] },
    status: 'finished',
    ...overrides,
  };
}

/** Open/close tags balance (void elements and self-closed tags aside), or the first mismatch. */
function checkBalanced(html: string): void {
  const voids = new Set(['meta', 'br', 'hr', 'img', 'input', 'link']);
  const stack: string[] = [];
  for (const match of html.matchAll(/<(\/?)([a-zA-Z][\w-]*)\b[^>]*?(\/?)>/g)) {
    const [, closing, rawName, selfClosing] = match;
    const name = rawName!.toLowerCase();
    if (voids.has(name) || selfClosing) continue;
    if (closing) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}> at ${match.index}`);
    } else {
      stack.push(name);
    }
  }
  expect(stack).toEqual([]);
}

const count = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].length;
const pathData = (svg: string) => [...svg.matchAll(/<path class="series" data-series="([^"]*)" d="([^"]*)"/g)].map((m) => ({ name: m[1]!, d: m[2]! }));
const pointCount = (d: string) => count(d, /[ML]-?[\d.]+ -?[\d.]+/g);

describe('renderReport', () => {
  it('renders a balanced page with six charts, the tables and the configuration', () => {
    const html = renderReport(sampleInput());
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    checkBalanced(html);
    expect(count(html, /<svg\b/g)).toBe(6);
    expect(count(html, /<\/svg>/g)).toBe(6);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\b(src|href)=/);
    expect(html).toContain("default-src 'none'");
    // Summary: final validation (epoch 3) and test accuracy per head.
    expect(html).toContain('<tr><th scope="row">classifier</th><td>83.00%</td><td>88.12%</td></tr>');
    expect(html).toContain('<tr><th scope="row">block 2</th><td>78.00%</td><td>80.00%</td></tr>');
    expect(html).toContain('37.5 s');
    // Confusion matrix: 3 x 3 plus header, recall of class 1 is 40/43.
    expect(html).toContain('<table class="confusion">');
    expect(html).toContain('93.02%');
    expect(html).toContain('&quot;hidden&quot;: [');
    // Series: units per loss chart, heads per accuracy chart, categories per memory chart.
    const names = pathData(html).map((p) => p.name);
    expect(names).toEqual([
      'block 1', 'block 2', 'classifier',
      'classifier', 'block 1', 'block 2',
      'block 1', 'classifier',
      'block 1', 'classifier',
      'parameter', 'optimizer', 'activation', 'scratch',
      'samples/s',
    ]);
  });

  it('has one path point per value', () => {
    const html = renderReport(sampleInput());
    const paths = pathData(html);
    expect(paths.slice(0, 3).map((p) => pointCount(p.d))).toEqual([3, 3, 3]);
    expect(paths.slice(6, 10).map((p) => pointCount(p.d))).toEqual([12, 12, 12, 12]);
    expect(pointCount(paths[14]!.d)).toBe(12);
  });

  it('escapes text from the input everywhere', () => {
    const evil = '<script>alert("x")</script>';
    const input = sampleInput({
      title: evil,
      adapter: evil,
      status: evil,
      config: { note: evil },
      epochs: [epoch(1, { train: { units: [{ name: evil, likelihood: 1 }] }, memory: { live: {}, peak: { [evil]: 1 } } })],
      steps: [{ step: 1, epoch: 1, samplesPerSecond: 1, units: [{ name: `a"b'c&d`, likelihood: 1 }] }],
    });
    const html = renderReport(input);
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('data-series="a&quot;b&#39;c&amp;d"');
    checkBalanced(html);
  });

  it('draws non-finite values as gaps, never as NaN', () => {
    const epochs = [1, 2, 3, 4, 5].map((n) => epoch(n));
    epochs[1]!.train.units[0]!.likelihood = NaN;
    epochs[3]!.train.units[0]!.likelihood = Infinity;
    epochs[2]!.train.units[1]!.likelihood = -Infinity;
    epochs[4]!.validation!.accuracy = NaN;
    epochs[0]!.memory.peak.activation = NaN;
    const html = renderReport(sampleInput({ epochs }));
    checkBalanced(html);
    for (const { d } of pathData(html)) expect(d).not.toMatch(/NaN|Infinity/);
    expect(html).not.toMatch(/="[^"]*(NaN|Infinity)[^"]*"/);
    const block1 = pathData(html)[0]!;
    // Finite at epochs 1, 3, 5: three separate pieces (three moves, no lines), drawn as dots.
    expect(pointCount(block1.d)).toBe(3);
    expect(count(block1.d, /M/g)).toBe(3);
    expect(count(html, /<circle class="point"/g)).toBeGreaterThanOrEqual(3);
  });

  it('renders no-data notes for an empty run instead of throwing', () => {
    const html = renderReport(sampleInput({ epochs: [], steps: [], test: undefined, status: 'stopped at epoch 0 (Ctrl-C)' }));
    checkBalanced(html);
    expect(count(html, /<svg\b/g)).toBe(0);
    expect(count(html, /class="no-data"/g)).toBe(7);
    expect(html).toContain('no epochs recorded');
    expect(html).toContain('no logged steps');
    expect(html).toContain('class="status warn"');
  });

  it('renders epochs without validation or steps with a note for the missing charts', () => {
    const epochs = [epoch(1, { validation: undefined }), epoch(2, { validation: undefined })];
    const html = renderReport(sampleInput({ epochs, steps: [], test: undefined }));
    checkBalanced(html);
    expect(count(html, /<svg\b/g)).toBe(2);
    expect(html).toContain('no validation results');
  });

  it('draws the losses of steps logged before training accuracy was counted, and says why their accuracy chart is empty', () => {
    const steps = sampleInput().steps.map((step) => ({ ...step, units: step.units.map(({ accuracy: _, ...unit }) => unit) }));
    const html = renderReport(sampleInput({ steps }));
    expect(count(html, /<svg\b/g)).toBe(5);
    expect(html).toContain('Training accuracy per logged step (the steps since the previous point): no data (the run was logged before training accuracy was counted).');
  });

  it('survives an unserializable configuration and odd confusion matrices', () => {
    const circular: Record<string, unknown> = { big: 12n };
    circular.self = circular;
    const html = renderReport(sampleInput({ config: circular, test: { accuracy: 0.5, blockAccuracy: [], confusion: [[1, NaN], [2]] } }));
    checkBalanced(html);
    expect(html).toContain('configuration not representable as JSON');
    expect(renderReport(sampleInput({ config: { big: 12n } }))).toContain('&quot;big&quot;: &quot;12&quot;');
    expect(renderReport(sampleInput({ config: undefined }))).toContain('<pre>undefined</pre>');
  });
});

describe('lineChart', () => {
  it('handles a single point, a constant series and an empty series', () => {
    const svg = lineChart({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [
        { name: 'single', points: [{ x: 1, y: 5 }] },
        { name: 'constant', points: [{ x: 1, y: 2 }, { x: 2, y: 2 }, { x: 3, y: 2 }] },
        { name: 'empty', points: [] },
      ],
    });
    checkBalanced(svg);
    expect(svg).not.toMatch(/NaN|Infinity/);
    const paths = pathData(svg);
    expect(paths.map((p) => [p.name, pointCount(p.d)])).toEqual([['single', 1], ['constant', 3]]);
    expect(count(svg, /<circle/g)).toBe(1);
    expect(svg).toContain('>empty</text>');

    const flat = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'zero', points: [{ x: 0, y: 0 }, { x: 0, y: 0 }] }] });
    expect(flat).not.toMatch(/NaN|Infinity/);
    expect(pointCount(pathData(flat)[0]!.d)).toBe(2);
  });

  it("says 'no data' when nothing is finite", () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'bad', points: [{ x: 1, y: NaN }, { x: NaN, y: 1 }] }] });
    checkBalanced(svg);
    expect(svg).toContain('>no data</text>');
    expect(pathData(svg)).toEqual([]);
    expect(lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [] })).toContain('>no data</text>');
  });

  it('places points inside the plot, with y growing upward', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [{ x: 0, y: 0 }, { x: 10, y: 1 }] }] });
    const coordinates = [...pathData(svg)[0]!.d.matchAll(/[ML](-?[\d.]+) (-?[\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    const [[x0, y0], [x1, y1]] = coordinates as [[number, number], [number, number]];
    expect(x1).toBeGreaterThan(x0);
    expect(y1).toBeLessThan(y0);
    for (const [x, y] of coordinates) {
      expect(x).toBeGreaterThanOrEqual(64);
      expect(x).toBeLessThanOrEqual(640 - 16);
      expect(y).toBeGreaterThanOrEqual(28);
      expect(y).toBeLessThanOrEqual(320 - 44);
    }
  });
});

describe('chart helpers', () => {
  it('niceTicks gives round steps covering the range', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.13, 0.87, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 97, 5)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(1, 3, 6)).toEqual([1, 1.5, 2, 2.5, 3]);
    const constant = niceTicks(2, 2);
    expect(constant[0]).toBeLessThan(2);
    expect(constant[constant.length - 1]).toBeGreaterThan(2);
    expect(niceTicks(0, 0).length).toBeGreaterThanOrEqual(2);
    expect(niceTicks(NaN, Infinity)).toEqual(niceTicks(0, 1));
    for (const t of niceTicks(0.1, 0.7, 6)) expect(String(t).length).toBeLessThan(5);
  });

  it('formatTick and escapeHtml', () => {
    expect(formatTick(0.2, 0.2)).toBe('0.2');
    expect(formatTick(20, 20)).toBe('20');
    expect(formatTick(2.5, 0.5)).toBe('2.5');
    expect(formatTick(3e7, 1e7)).toBe('3.00e+7');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
