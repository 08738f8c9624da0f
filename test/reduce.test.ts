import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import { argmax, mean, sum, sumAll } from '../src/ops/reduce.js';
import { isSoftwareAdapter, rowWorkgroupSize, treeWorkgroupSize } from '../src/gpu/workgroups.js';
import * as reference from '../src/reference/reduce.js';
import { testDevice } from './helpers/device.js';
import { expectClose, expectNormalizedClose, uniform } from './helpers/numeric.js';

const device = await testDevice();

const ROWS = [1, 3, 17, 127];
const LENGTHS = [1, 3, 10, 17, 63, 65, 127, 129, 1000, 4097];

/** The tolerance rule (docs/architecture.md, "Kernels and their tests"): elementwise up to 256 terms, normalized squared error beyond. */
function expectReduced(actual: ArrayLike<number>, expected: ArrayLike<number>, terms: number, what = 'values'): void {
  if (terms <= 256) expectClose(actual, expected, { rtol: 1e-4, atol: 1e-5 }, what);
  else expectNormalizedClose(actual, expected, 1e-7, what);
}

describe('sum and mean', () => {
  it.each(LENGTHS)('over the last axis of rows of length %i', async (cols) => {
    for (const rows of ROWS) {
      const x = uniform(rows * cols, rows * 7919 + cols);
      const t = device.tensor(x, [rows, cols]);
      const s = sum(t, -1);
      const m = mean(t, 1, { keepDims: true });
      expect(s.shape).toEqual([rows]);
      expect(m.shape).toEqual([rows, 1]);
      expectReduced(await s.read(), reference.sum(x, [rows, cols], [1]), cols, `sum ${rows}x${cols}`);
      expectReduced(await m.read(), reference.mean(x, [rows, cols], [1]), cols, `mean ${rows}x${cols}`);
      for (const u of [t, s, m]) u.dispose();
    }
  });

  it.each([
    [[3, 17, 65], [0]],
    [[3, 17, 65], [1]],
    [[3, 17, 65], [2]],
    [[3, 17, 65], [0, 2]],
    [[3, 17, 65], [0, 1]],
    [[3, 17, 65], [1, 2]],
    [[3, 17, 65], [0, 1, 2]],
    [[2, 5, 1, 7, 3], [1, 3]],
    [[2, 5, 1, 7, 3], [0, 2, 4]],
    [[129, 3], [0]],
    [[1], [0]],
  ])('over axes of %j: %j', async (shape, axes) => {
    const x = uniform(shape.reduce((a, b) => a * b, 1), 3);
    const t = device.tensor(x, shape);
    const terms = axes.reduce((n, a) => n * shape[a]!, 1);
    for (const keepDims of [false, true]) {
      const s = sum(t, axes, { keepDims });
      const m = mean(t, axes, { keepDims });
      expect(s.shape).toEqual(reference.reducedShape(shape, axes, keepDims));
      expectReduced(await s.read(), reference.sum(x, shape, axes), terms, 'sum');
      expectReduced(await m.read(), reference.mean(x, shape, axes), terms, 'mean');
      s.dispose();
      m.dispose();
    }
    t.dispose();
  });

  it('takes negative axes and an axis list in any order', async () => {
    const x = uniform(3 * 4 * 5, 4);
    const t = device.tensor(x, [3, 4, 5]);
    const s = sum(t, [-1, 0]);
    expect(s.shape).toEqual([4]);
    expectClose(await s.read(), reference.sum(x, [3, 4, 5], [0, 2]));
    t.dispose();
    s.dispose();
  });

  it('is exact to f32 over long rows and long columns (several chunk passes)', async () => {
    // 1,000,003 terms along a row: row chunks, then a second tree pass over the partials.
    const n = 1_000_003;
    const x = uniform(n, 5, 0, 1);
    const t = device.tensor(x);
    let before = device.dispatchCount;
    const s = sumAll(t);
    expect(device.dispatchCount - before, 'row passes').toBe(2);
    expect(s.shape).toEqual([]);
    expectNormalizedClose(await s.read(), reference.sum(x, [n], [0]));
    // 70,001 rows down a column: strided chunks of 64, three passes.
    const columns = device.tensor(x.subarray(0, 70_001 * 3), [70_001, 3]);
    before = device.dispatchCount;
    const c = mean(columns, 0);
    expect(device.dispatchCount - before, 'strided passes').toBe(3);
    expectNormalizedClose(await c.read(), reference.mean(x.subarray(0, 70_001 * 3), [70_001, 3], [0]));
    for (const u of [t, s, columns, c]) u.dispose();
  });

  it('reads strided views', async () => {
    const x = uniform(17 * 65, 6);
    const t = device.tensor(x, [17, 65]);
    const view = t.transpose();
    const s = sum(view, 1);
    // The transpose is [65, 17]: its rows are the columns of x.
    expectClose(await s.read(), reference.sum(x, [17, 65], [0]));
    for (const u of [t, view, s]) u.dispose();
  });

  it('copies when no axis is reduced and gives zeros over an empty axis', async () => {
    const t = device.tensor([1, 2, 3], [3]);
    const same = sum(t, []);
    expectClose(await same.read(), [1, 2, 3]);
    const empty = device.zeros([4, 0]);
    const zeros = sum(empty, 1);
    expectClose(await zeros.read(), [0, 0, 0, 0]);
    for (const u of [t, same, empty, zeros]) u.dispose();
  });

  it('rejects bad axes and dtypes before dispatch, naming the op and shape', () => {
    const t = device.zeros([3, 4]);
    const ints = device.zeros([3, 4], 'i32');
    const empty = device.zeros([2, 0]);
    const before = device.dispatchCount;
    expect(() => sum(t, 2)).toThrow(ShapeError);
    expect(() => sum(t, 2)).toThrow(/sum: axis 2 is out of range for x \[3, 4\]/);
    expect(() => mean(t, [1, -1])).toThrow(/mean: axes \[1, -1\] repeat an axis of x \[3, 4\]/);
    expect(() => sum(ints)).toThrow(/sum: x has dtype i32 \(shape \[3, 4\]\)/);
    expect(() => mean(empty, 1)).toThrow(/mean: axes \[1\] of x \[2, 0\] hold no elements/);
    expect(() => argmax(ints)).toThrow(/argmax: x has dtype i32/);
    expect(() => argmax(empty)).toThrow(/argmax: x \[2, 0\] needs a non-empty last axis/);
    expect(device.dispatchCount).toBe(before);
    for (const u of [t, ints, empty]) u.dispose();
  });
});

describe('argmax', () => {
  it.each(LENGTHS)('over rows of length %i', async (cols) => {
    for (const rows of ROWS) {
      const x = uniform(rows * cols, rows * 31 + cols);
      const t = device.tensor(x, [rows, cols]);
      const i = argmax(t);
      expect(i.dtype).toBe('i32');
      expect(i.shape).toEqual([rows]);
      expect(Array.from(await i.read())).toEqual(Array.from(reference.argmax(x, cols)));
      t.dispose();
      i.dispose();
    }
  });

  it('gives ties to the first maximum, across threads and tree levels', async () => {
    const cols = 1000;
    const rows = 4;
    const x = new Float32Array(rows * cols).fill(-1);
    // Row 0: all equal. Row 1: maxima at 700, 5 and 300 (5 wins). Row 2: maxima in the slices
    // of threads 3 and 2 (index 2 + 256 beats 3). Row 3: a single maximum at the end.
    for (const j of [700, 5, 300]) x[cols + j] = 2;
    for (const j of [3, 258, 514]) x[2 * cols + j] = 7;
    x[3 * cols + cols - 1] = 0.5;
    const t = device.tensor(x, [rows, cols]);
    const i = argmax(t);
    expect(Array.from(await i.read())).toEqual([0, 5, 3, 999]);
    expect(Array.from(reference.argmax(x, cols))).toEqual([0, 5, 3, 999]);
    t.dispose();
    i.dispose();
  });

  it('handles more rows than one grid dimension holds, and rank 3', async () => {
    const x = uniform(70_000 * 3, 9);
    const t = device.tensor(x, [70_000, 1, 3]);
    const i = argmax(t);
    expect(i.shape).toEqual([70_000, 1]);
    expect(Array.from(await i.read())).toEqual(Array.from(reference.argmax(x, 3)));
    t.dispose();
    i.dispose();
  });
});

describe('workgroup sizes of row kernels', () => {
  it('treeWorkgroupSize is a power of two between 32 and the device limit, growing with the run', () => {
    expect(treeWorkgroupSize(device, 1)).toBe(32);
    expect(treeWorkgroupSize(device, 33)).toBe(64);
    const big = treeWorkgroupSize(device, 100_000);
    expect(big).toBeLessThanOrEqual(device.limits.maxComputeInvocationsPerWorkgroup);
    expect(Math.log2(big) % 1).toBe(0);
  });

  it('rowWorkgroupSize is one SIMD width (8) on a CPU adapter, the tree size on a GPU', () => {
    for (const length of [1, 10, 64, 1000, 100_000]) {
      expect(rowWorkgroupSize(device, length)).toBe(isSoftwareAdapter(device) ? 8 : treeWorkgroupSize(device, length));
    }
  });
});
