/**
 * The kernel benchmark runs in both hosts: Node (bench/kernels/kernels.mjs, over Dawn) and a page
 * in headless Chromium (bench/kernels/browser.mjs), from the one suite in
 * bench/kernels/suite.mjs. Each host runs the suite's smoke cases (ragged, small, every family)
 * and must produce a record with every family, our results agreeing with TF.js's on the same
 * adapter, and the host named. The numbers themselves are not asserted: timings are benchmarks'
 * business, not tests'. The browser half needs Chromium: skipped without it, unless
 * SLL_REQUIRE_BROWSER=1.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { chromiumAvailable } from '../scripts/chromium.mjs';

interface Row {
  op: string;
  name: string;
  ours: { gflops: number; maxRelativeDifferenceToTfjs?: number };
  tfjs: { gflops?: number; skipped?: string };
}
interface KernelRecord {
  adapter: { isFallbackAdapter: boolean };
  adapterSummary: string;
  tfjs: { adapter: string };
  host: { kind: string; machine?: string; browser?: string; version?: string };
  settings: { smoke: boolean };
  results: Row[];
}

/** What every host's record must hold: every family, each case measured and agreeing with TF.js. */
function expectComplete(record: KernelRecord, host: string) {
  expect(record.host.kind).toBe(host);
  expect(record.host.machine).toMatch(/ x \d+$/);
  expect(record.settings.smoke).toBe(true);
  expect(record.tfjs.adapter).not.toBe('unavailable');
  expect(new Set(record.results.map((r) => r.op))).toEqual(new Set(['matmul', 'conv2d']));
  for (const r of record.results) {
    expect(r.ours.gflops, r.name).toBeGreaterThan(0);
    expect(r.tfjs.gflops, r.name).toBeGreaterThan(0);
    // f32 products of a few hundred terms, summed in different orders by the two engines.
    expect(r.ours.maxRelativeDifferenceToTfjs, r.name).toBeLessThan(1e-4);
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
});
