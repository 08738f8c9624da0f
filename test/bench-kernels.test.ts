/**
 * The kernel benchmark runs in both hosts: Node (bench/kernels/kernels.mjs, over Dawn) and a page
 * in headless Chromium (bench/kernels/browser.mjs), from the one suite in
 * bench/kernels/suite.mjs (the cases in bench/kernels/families/). Each host runs the suite's smoke cases (ragged, small, every family)
 * and must produce a record with every op of every family, our results agreeing with TF.js's on
 * the same adapter, and the host named. The numbers themselves are not asserted: timings are
 * benchmarks' business, not tests'. The browser half needs Chromium: skipped without it, unless
 * SLL_REQUIRE_BROWSER=1.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { nativeBlasMatmul } from '../bench/lib/nativeBlas.mjs';
import { chromiumAvailable } from '../scripts/chromium.mjs';

/** A row measures work in FLOPs (compute-bound: GFLOPS) or in bytes moved (memory-bound: GB/s). */
interface Row {
  op: string;
  name: string;
  flops?: number;
  bytes?: number;
  ours: { gflops?: number; gbps?: number; maxRelativeDifferenceToTfjs?: number };
  tfjs: { gflops?: number; gbps?: number; skipped?: string };
}
interface KernelRecord {
  adapter: { isFallbackAdapter: boolean };
  adapterSummary: string;
  tfjs: { adapter: string };
  host: { kind: string; machine?: string; browser?: string; version?: string };
  settings: { smoke: boolean };
  results: Row[];
}

/**
 * Every op the suite measures, with how far ours may be from TF.js's: the largest difference
 * relative to the largest |value| (in f32, one rounding is 6e-8 of a value near 1).
 */
const TOLERANCE: Record<string, number> = {
  // Sums of products (the smoke cases: up to a few hundred terms), added up in different orders
  // by the two engines: many roundings each, in different places.
  matmul: 1e-4,
  conv2d: 1e-4,
  conv2dBackwardInput: 1e-4,
  conv2dBackwardWeight: 1e-4,
  attention: 1e-4,
  // A transcendental per element (exp, erf: implementations a few ulp apart, and TF.js's erf is
  // another approximation than ours) and short row sums: a few roundings.
  softmax: 1e-5,
  layerNorm: 1e-5,
  gelu: 1e-5,
  // One correctly rounded f32 addition in each engine: the same bits, but allow one rounding.
  add: 2e-7,
};

/** What every host's record must hold: every op, each case measured and agreeing with TF.js. */
function expectComplete(record: KernelRecord, host: string) {
  expect(record.host.kind).toBe(host);
  expect(record.host.machine).toMatch(/ x \d+$/);
  expect(record.settings.smoke).toBe(true);
  expect(record.tfjs.adapter).not.toBe('unavailable');
  expect(new Set(record.results.map((r) => r.op))).toEqual(new Set(Object.keys(TOLERANCE)));
  for (const r of record.results) {
    // Each row counts one kind of work, and both engines' rates are in its unit.
    const unit = r.flops !== undefined ? 'gflops' : 'gbps';
    expect([r.flops, r.bytes].filter((x) => x !== undefined), r.name).toHaveLength(1);
    expect(r.ours[unit], r.name).toBeGreaterThan(0);
    expect(r.tfjs[unit], r.name).toBeGreaterThan(0);
    expect(r.ours.maxRelativeDifferenceToTfjs, r.name).toBeLessThan(TOLERANCE[r.op]!);
  }
}

describe('the kernel benchmark', () => {
  it('runs every family in Node, beside TF.js on the same adapter', async () => {
    const out = mkdtempSync(join(tmpdir(), 'sll-bench-node-'));
    await promisify(execFile)(process.execPath, ['bench/kernels/kernels.mjs', '--smoke', '--out', out], { timeout: 120_000 });
    const files = readdirSync(out);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^kernels-.*-smoke\.json$/);
    const record = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as KernelRecord;
    expectComplete(record, 'node');
    expect(record.host.version).toBe(process.version);
  }, 150_000);

  it.runIf(chromiumAvailable())('runs the same cases in a page in headless Chromium', async () => {
    const { runInBrowser } = (await import(new URL('../bench/kernels/browser.mjs', import.meta.url).href)) as { runInBrowser: (o: { query: string; timeoutMs: number }) => Promise<KernelRecord> };
    const record = await runInBrowser({ query: 'smoke', timeoutMs: 120_000 });
    expectComplete(record, 'browser');
    expect(record.host.browser).toMatch(/^Chromium \d+/);
    expect(record.adapterSummary).toMatch(/\(browser, /);
  }, 180_000);

  it.runIf(chromiumAvailable())("measures the kernel tuning in a page as a record of every shape class (npm run bench:browser -- --tune)", async () => {
    type Timing = { ms: number } | { skipped: string };
    type TuningRecord = { adapterSummary: string; host: { kind: string; browser?: string }; runs: number; shapes: Record<string, number[][]>; tuning: { adapter: string; layouts: string; matmul: Record<string, string> }; rows: { shapeClass: string; variants: Record<string, Timing>; builtIn: string; chosen: string }[] };
    const { runInBrowser } = (await import(new URL('../bench/kernels/browser.mjs', import.meta.url).href)) as { runInBrowser: (o: { query: string; timeoutMs: number }) => Promise<TuningRecord> };
    const record = await runInBrowser({ query: 'tune&quick&runs=1', timeoutMs: 120_000 });
    expect(record.host).toMatchObject({ kind: 'browser', browser: expect.stringMatching(/^Chromium \d+/) });
    expect(record.runs).toBe(1);
    expect(record.rows.map((r) => r.shapeClass)).toEqual(['general', 'thin', 'shortK', 'longK']);
    expect(Object.keys(record.shapes)).toEqual(['general', 'thin', 'shortK', 'longK']);
    // The table is this adapter's, and names the fastest variant timed in each class.
    expect(record.tuning.adapter).toBe(record.adapterSummary);
    for (const row of record.rows) {
      const timed = Object.entries(row.variants).filter((e): e is [string, { ms: number }] => 'ms' in e[1]);
      expect(timed.length, row.shapeClass).toBeGreaterThan(0);
      expect(row.chosen).toBe(timed.reduce((a, b) => (b[1].ms < a[1].ms ? b : a))[0]);
      expect(record.tuning.matmul[row.shapeClass]).toBe(row.chosen);
    }
  }, 180_000);
});

describe('the native BLAS figure (bench/lib/nativeBlas.mjs)', () => {
  it('is skipped with the reason where Python cannot run, and never stops the benchmark', () => {
    expect(nativeBlasMatmul(8, { python: 'python-that-is-not-installed' })).toEqual({ size: 8, skipped: 'python-that-is-not-installed could not run (ENOENT)' });
    // A Python that runs but fails names the failure's last line.
    const failing = nativeBlasMatmul(8, { python: process.execPath });
    expect('skipped' in failing && failing.skipped.length > 0).toBe(true);
  });

  it("times numpy's float32 cube where numpy is present, naming its BLAS", () => {
    const figure = nativeBlasMatmul(64);
    if ('skipped' in figure) {
      // This machine has no numpy: the reason must say so, not be a crash.
      expect(figure.skipped).toMatch(/numpy|could not run/);
      return;
    }
    expect(figure.gflops).toBeCloseTo((2 * 64 ** 3) / (figure.ms * 1e6), 6);
    expect(figure.gflops).toBeGreaterThan(0);
    expect(figure.numpy).toMatch(/^\d+\.\d+/);
    expect(figure.library.length).toBeGreaterThan(0);
  });
});
