import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { addWindowMetrics, argmax, countCorrect, mean, sum, sumAll } from '../src/ops/reduce.js';
import { isSoftwareAdapter, rowWorkgroupSize, treeWorkgroupSize } from '../src/gpu/workgroups.js';
import * as reference from '../src/reference/reduce.js';
import { testDevice } from './helpers/device.js';
import { expectClose, expectNormalizedClose, reductionCheck, rng, uniform } from './helpers/numeric.js';
import { disposeAll, expectOp, runOp } from './helpers/ops.js';

const device = await testDevice();

const ROWS = [1, 3, 17, 127];
const LENGTHS = [1, 3, 10, 17, 63, 65, 127, 129, 1000, 4097];

describe('sum and mean', () => {
  it.each(LENGTHS)('over the last axis of rows of length %i', async (cols) => {
    for (const rows of ROWS) {
      const x = uniform(rows * cols, rows * 7919 + cols);
      const expected = { sum: reference.sum(x, [rows, cols], [1]), mean: reference.mean(x, [rows, cols], [1]) };
      const out = await expectOp(device, (t) => ({ sum: sum(t, -1), mean: mean(t, 1, { keepDims: true }) }), [[x, [rows, cols]]], expected, reductionCheck(cols), {
        what: `${rows}x${cols}`,
      });
      expect(out.sum.shape).toEqual([rows]);
      expect(out.mean.shape).toEqual([rows, 1]);
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
    const terms = axes.reduce((n, a) => n * shape[a]!, 1);
    const expected = { sum: reference.sum(x, shape, axes), mean: reference.mean(x, shape, axes) };
    for (const keepDims of [false, true]) {
      const out = await expectOp(device, (t) => ({ sum: sum(t, axes, { keepDims }), mean: mean(t, axes, { keepDims }) }), [[x, shape]], expected, reductionCheck(terms));
      expect(out.sum.shape).toEqual(reference.reducedShape(shape, axes, keepDims));
    }
  });

  it('takes negative axes and an axis list in any order', async () => {
    const x = uniform(3 * 4 * 5, 4);
    const s = await expectOp(device, (t) => sum(t, [-1, 0]), [[x, [3, 4, 5]]], reference.sum(x, [3, 4, 5], [0, 2]));
    expect(s.shape).toEqual([4]);
  });

  it('is exact to f32 over long rows and long columns (several chunk passes)', async () => {
    // 1,000,003 terms along a row: row chunks, then a second tree pass over the partials; a CPU
    // adapter's layouts sum it by threads instead, 64 terms each, in four passes.
    const n = 1_000_003;
    const x = uniform(n, 5, 0, 1);
    const t = device.tensor(x);
    let before = device.dispatchCount;
    const s = sumAll(t);
    expect(device.dispatchCount - before, 'row passes').toBe(isSoftwareAdapter(device) ? 4 : 2);
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
    await expectOp(device, (t) => sum(t, []), [[[1, 2, 3], [3]]], [1, 2, 3]);
    await expectOp(device, (empty) => sum(empty, 1), [[[], [4, 0]]], [0, 0, 0, 0]);
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
      const i = await expectOp(device, (t) => argmax(t), [[x, [rows, cols]]], reference.argmax(x, cols), 'exact');
      expect(i.dtype).toBe('i32');
      expect(i.shape).toEqual([rows]);
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
    await expectOp(device, (t) => argmax(t), [[x, [rows, cols]]], [0, 5, 3, 999], 'exact');
    expect(Array.from(reference.argmax(x, cols))).toEqual([0, 5, 3, 999]);
  });

  it('puts NaN above every number and gives rows with NaN their first NaN, in threads and tree levels alike', async () => {
    const cols = 300;
    const x = uniform(7 * cols, 24);
    // NaN first; after the row's largest value (257, which the old order kept); at 9 and 8, in
    // two threads' slices (8 wins); last; a whole row; two around a large value; none.
    const nans = [[0], [260], [9, 8], [cols - 1], Array.from({ length: cols }, (_, j) => j), [6, 4]];
    nans.forEach((at, r) => at.forEach((j) => (x[r * cols + j] = Number.NaN)));
    x[1 * cols + 257] = 5;
    x[5 * cols + 5] = 5;
    const expected = [0, 260, 8, cols - 1, 0, 4, reference.argmax(x.subarray(6 * cols), cols)[0]!];
    expect(Array.from(reference.argmax(x, cols))).toEqual(expected);
    await expectOp(device, (t) => argmax(t), [[x, [7, cols]]], expected, 'exact');
  });

  it('handles more rows than one grid dimension holds, and rank 3', async () => {
    const x = uniform(70_000 * 3, 9);
    const i = await expectOp(device, (t) => argmax(t), [[x, [70_000, 1, 3]]], reference.argmax(x, 3), 'exact');
    expect(i.shape).toEqual([70_000, 1]);
  });
});

describe('countCorrect', () => {
  /** countCorrect as an op that returns the counter it added to. */
  const count = (logits: Tensor, labels: Tensor, into: Tensor) => {
    countCorrect(logits, labels, into);
    return into;
  };

  /**
   * Labels for rows whose argmax is `predicted`, each drawn from: the argmax, the next class (the
   * argmax again where C = 1), C and -1 (both out of range). Drawn, not cycled, so that a kernel
   * that counted the wrong rows would not come to the same total by the symmetry of a cycle.
   */
  function labelsFor(predicted: ArrayLike<number>, cols: number, seed: number): Int32Array {
    const next = rng(seed);
    return Int32Array.from(predicted, (p) => [p, (p + 1) % cols, cols, -1][Math.floor(next() * 4)]!);
  }

  it.each([
    [1, 10],
    [1, 1],
    [6, 1],
    [5, 1000],
    [1000, 10],
    [257, 10],
    [257, 3],
    [70_000, 3],
  ])('adds the rows of [%i, %i] whose argmax is the label to the counter', async (rows, cols) => {
    const x = uniform(rows * cols, rows * 13 + cols);
    const labels = labelsFor(reference.argmax(x, cols), cols, rows + cols);
    // The counter starts at 7: the op adds to it.
    const expected = 7 + reference.countCorrect(x, labels, cols);
    await expectOp(device, count, [[x, [rows, cols]], [labels, [rows], 'i32'], [[7], [1], 'u32']], [expected], 'exact');
  });

  it('counts a tied row only at its first maximum, across threads and tree levels', async () => {
    const cols = 1000;
    const x = new Float32Array(6 * cols).fill(-1);
    // Rows 0-1: all equal. Rows 2-3: maxima at 700, 5 and 300. Rows 4-5: maxima in the slices of
    // threads 3 and 2 (index 3 comes first). Even rows are labelled with the first maximum, odd
    // rows with a later one.
    for (const j of [700, 5, 300]) x[2 * cols + j] = x[3 * cols + j] = 2;
    for (const j of [3, 258, 514]) x[4 * cols + j] = x[5 * cols + j] = 7;
    const labels = Int32Array.of(0, 999, 5, 700, 3, 258);
    expect(reference.countCorrect(x, labels, cols)).toBe(3);
    await expectOp(device, count, [[x, [6, cols]], [labels, [6], 'i32'], [[0], [1], 'u32']], [3], 'exact');
  });

  it('picks the index argmax picks in rows with NaN', async () => {
    const rows = 8;
    const cols = 300;
    const x = uniform(rows * cols, 23);
    // NaN first; second, with the row's largest value at 257, in the same thread's slice for any
    // workgroup of up to 256 threads (a NaN a thread meets first hides the rest of its slice);
    // at 8, 9 and last; a row of NaN; two NaN around the row's largest value; none.
    const nans = [[0], [1], [8], [9], [cols - 1], Array.from({ length: cols }, (_, j) => j), [4, 6]];
    nans.forEach((at, r) => at.forEach((j) => (x[r * cols + j] = Number.NaN)));
    x[1 * cols + 257] = 5;
    x[6 * cols + 5] = 5;
    const indices = (await runOp(device, (t) => argmax(t), [[x, [rows, cols]]])).values;
    // Labelled with argmax's own index every row counts; with the next class none does.
    const matching = Int32Array.from(indices);
    const next = Int32Array.from(indices, (i) => (i + 1) % cols);
    await expectOp(device, count, [[x, [rows, cols]], [matching, [rows], 'i32'], [[0], [1], 'u32']], [rows], 'exact', { what: 'argmax labels' });
    await expectOp(device, count, [[x, [rows, cols]], [next, [rows], 'i32'], [[0], [1], 'u32']], [0], 'exact', { what: 'other labels' });
  });

  it('accumulates over calls into the same counter, one dispatch each', async () => {
    const a = uniform(257 * 10, 41);
    const b = uniform(33 * 4, 42);
    const labelsA = labelsFor(reference.argmax(a, 10), 10, 1);
    const labelsB = labelsFor(reference.argmax(b, 4), 4, 2);
    const expected = 5 + reference.countCorrect(a, labelsA, 10) + reference.countCorrect(b, labelsB, 4);
    let dispatches = -1;
    const both = (xa: Tensor, ya: Tensor, xb: Tensor, yb: Tensor, into: Tensor) => {
      const before = device.dispatchCount;
      count(xa, ya, into);
      count(xb, yb, into);
      dispatches = device.dispatchCount - before;
      return into;
    };
    await expectOp(device, both, [[a, [257, 10]], [labelsA, [257], 'i32'], [b, [33, 4]], [labelsB, [33], 'i32'], [[5], [1], 'u32']], [expected], 'exact');
    expect(dispatches).toBe(2);
  });

  it('adds nothing for a batch of no rows, without a dispatch', async () => {
    let dispatches = -1;
    const none = (x: Tensor, y: Tensor, into: Tensor) => {
      const before = device.dispatchCount;
      count(x, y, into);
      dispatches = device.dispatchCount - before;
      return into;
    };
    await expectOp(device, none, [[[], [0, 10]], [[], [0], 'i32'], [[4], [1], 'u32']], [4], 'exact');
    expect(dispatches).toBe(0);
  });

  it('rejects bad operands before dispatch, naming the op and the operand', () => {
    const logits = device.zeros([4, 10]);
    const labels = device.zeros([4], 'i32');
    const into = device.zeros([1], 'u32');
    const intLogits = device.zeros([4, 10], 'i32');
    const flat = device.zeros([40]);
    const noClasses = device.zeros([4, 0]);
    const floatLabels = device.zeros([4]);
    const shortLabels = device.zeros([3], 'i32');
    const floatInto = device.zeros([1]);
    const pair = device.zeros([2], 'u32');
    const scalar = device.zeros([], 'u32');
    const offsetInto = pair.slice(0, 1, 2);
    const gone = device.zeros([1], 'u32');
    gone.dispose();
    const before = device.dispatchCount;
    expect(() => countCorrect(intLogits, labels, into)).toThrow(ShapeError);
    expect(() => countCorrect(intLogits, labels, into)).toThrow(/countCorrect: logits \[4, 10\] has dtype i32; expected f32/);
    expect(() => countCorrect(flat, labels, into)).toThrow(/countCorrect: logits must be \[batch, classes\] with at least one class, got \[40\]/);
    expect(() => countCorrect(noClasses, labels, into)).toThrow(/countCorrect: logits must be \[batch, classes\] with at least one class, got \[4, 0\]/);
    expect(() => countCorrect(logits, floatLabels, into)).toThrow(/countCorrect: labels \[4\] have dtype f32; expected i32 class indices/);
    expect(() => countCorrect(logits, shortLabels, into)).toThrow(/countCorrect: labels \[3\] and logits \[4, 10\]: expected labels of shape \[4\]/);
    expect(() => countCorrect(logits, labels, floatInto)).toThrow(/countCorrect: into has dtype f32 \(shape \[1\]\); expected u32/);
    expect(() => countCorrect(logits, labels, pair)).toThrow(/countCorrect: into \[2\] must be \[1\], one counter/);
    expect(() => countCorrect(logits, labels, scalar)).toThrow(/countCorrect: into \[\] must be \[1\], one counter/);
    expect(() => countCorrect(logits, labels, offsetInto)).toThrow(/countCorrect: into Tensor\(\[1\] u32, view\) is updated in place and must be contiguous/);
    expect(() => countCorrect(logits, labels, gone)).toThrow(/countCorrect: tensor \[1\] u32 was used after dispose\(\)/);
    expect(device.dispatchCount).toBe(before);
    disposeAll(logits, labels, into, intLogits, flat, noClasses, floatLabels, shortLabels, floatInto, pair, scalar, offsetInto);
  });
});

describe('addWindowMetrics', () => {
  /** Labels drawn from the row's argmax, the next class and two out of range (C and -1). */
  function labelsFor(predicted: ArrayLike<number>, cols: number, seed: number): Int32Array {
    const next = rng(seed);
    return Int32Array.from(predicted, (p) => [p, (p + 1) % cols, cols, -1][Math.floor(next() * 4)]!);
  }
  const f64Sum = (values: ArrayLike<number>) => Array.from(values).reduce((a, b) => a + b, 0);

  it.each([
    [1, 10, true],
    [6, 1, false],
    [65, 10, true],
    [300, 10, true],
    [257, 1000, false],
    [1030, 3, true],
  ])('rows %i of %i classes (alignment %s): the sums and the correct rows added to what was there, in one dispatch', async (rows, cols, withAlignment) => {
    const x = uniform(rows * cols, rows + cols);
    // Some rows hold NaN: counted where their first NaN's index is the label, as argmax has it.
    for (let r = 0; r < rows; r += 7) x[r * cols + ((r * 5) % cols)] = Number.NaN;
    const labels = labelsFor(reference.argmax(x, cols), cols, rows);
    // Terms of other shapes than [B]: a sum runs over every element.
    const likelihood = uniform(rows * 2, 3 * rows);
    const alignment = uniform(rows + 5, 5 * rows);
    const logitsT = device.tensor(x, [rows, cols]);
    const labelsT = device.tensor(labels, [rows], 'i32');
    const likelihoodT = device.tensor(likelihood, [rows, 2]);
    const alignmentT = device.tensor(alignment, [rows + 5]);
    const sums = device.tensor([0.5, -2], [2]);
    const correct = device.tensor(Uint32Array.of(4), [1], 'u32');
    const before = device.dispatchCount;
    addWindowMetrics(sums, correct, logitsT, labelsT, likelihoodT, withAlignment ? alignmentT : undefined);
    expect(device.dispatchCount - before).toBe(1);
    const expectedCorrect = 4 + reference.countCorrect(x, labels, cols);
    expect(Array.from(await correct.read())).toEqual([expectedCorrect]);
    // And the count agrees with countCorrect's on the device (argmax's tree against a thread per row).
    const counter = device.zeros([1], 'u32');
    countCorrect(logitsT, labelsT, counter);
    expect((await counter.read())[0]).toBe(expectedCorrect - 4);
    const expectedSums = [0.5 + f64Sum(likelihood), -2 + (withAlignment ? f64Sum(alignment) : 0)];
    expectClose(await sums.read(), expectedSums, { rtol: 1e-5, atol: 1e-5 }, 'sums');
    disposeAll(logitsT, labelsT, likelihoodT, alignmentT, sums, correct, counter);
  });

  it('refuses a view, a misshaped target, mismatched labels, a target that is also an input and an alignment that is not a Tensor', () => {
    const logits = device.tensor(uniform(8, 1), [2, 4]);
    const labels = device.tensor(Int32Array.of(0, 1), [2], 'i32');
    const terms = device.tensor([1, 2]);
    const sums = device.zeros([2]);
    const correct = device.zeros([1], 'u32');
    const wide = device.zeros([3]);
    const view = wide.slice(0, 1, 3);
    expect(() => addWindowMetrics(wide, correct, logits, labels, terms)).toThrow(/addWindowMetrics: sums \[3\] must be \[2\]/);
    expect(() => addWindowMetrics(view, correct, logits, labels, terms)).toThrow(/addWindowMetrics: sums .* must start its buffer, not be a view into one/);
    expect(() => addWindowMetrics(sums, device.zeros([2], 'u32'), logits, labels, terms)).toThrow(/addWindowMetrics: correct \[2\] must be \[1\], one counter/);
    expect(() => addWindowMetrics(sums, correct, logits, device.tensor(Int32Array.of(0, 1, 2), [3], 'i32'), terms)).toThrow(ShapeError);
    const shared = device.zeros([2]);
    expect(() => addWindowMetrics(shared, correct, logits, labels, shared)).toThrow(/addWindowMetrics: sums and likelihood share storage/);
    shared.dispose();
    // The alignment terms are optional, but what is given must be a Tensor.
    expect(() => addWindowMetrics(sums, correct, logits, labels, terms, null as unknown as Tensor)).toThrow(/addWindowMetrics: operand alignment must be a Tensor, got null/);
    disposeAll(logits, labels, terms, sums, correct, wide, view);
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
