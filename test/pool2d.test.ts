import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import type { Tensor } from '../src/gpu/tensor.js';
import {
  avgPool2d,
  avgPool2dBackward,
  globalAvgPool,
  globalAvgPoolBackward,
  maxPool2d,
  maxPool2dBackward,
  pool2dOutputShape,
} from '../src/ops/pool2d.js';
import * as ref from '../src/reference/pool2d.js';
import { isSoftwareAdapter } from '../src/gpu/workgroups.js';
import { testDevice } from './helpers/device.js';
import { dot, expectClose, finiteDifferenceGradient, lossWeights, uniform } from './helpers/numeric.js';
import { disposeAll, expectOp, within } from './helpers/ops.js';

const device = await testDevice();

/** [N, C, H, W, kernel, stride (undefined: the kernel), padding] */
type Case = [number, number, number, number, number | [number, number], (number | [number, number])?, (number | [number, number])?];

const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const label = (c: Case) => `x [${c.slice(0, 4).join(', ')}], kernel ${JSON.stringify(c[4])}, stride ${JSON.stringify(c[5] ?? 'kernel')}, padding ${JSON.stringify(c[6] ?? 0)}`;

// Odd, non-square and non-divisible sizes; overlapping (stride < kernel), disjoint and tiling windows.
const CASES: Case[] = [
  [1, 1, 5, 7, 2],
  [3, 17, 13, 13, 3, 2, 1],
  [2, 3, 7, 5, [3, 2], [2, 1], [1, 0]],
  [1, 3, 6, 6, 2, 1],
  [3, 2, 9, 11, 5, 2, 2],
  [2, 3, 4, 5, 1],
  [1, 4, 3, 3, 3, 1, 1],
  // Windows that tile the input exactly (the max-pool gradient's one-thread-per-window kernel).
  [3, 5, 8, 6, 2],
  [1, 3, 9, 6, 3],
  [2, 3, 6, 9, [2, 3]],
];

function setup(c: Case, seed: number) {
  const [n, ch, h, w, kernel, stride, padding] = c;
  const xShape = [n, ch, h, w];
  const refOptions = { kernel: pair(kernel), stride: pair(stride ?? kernel), padding: pair(padding ?? 0) };
  const options = { kernel, ...(stride === undefined ? {} : { stride }), ...(padding === undefined ? {} : { padding }) };
  const yShape = ref.pool2dOutputShape(xShape, refOptions);
  return { xShape, yShape, options, refOptions, x: uniform(size(xShape), seed), dy: uniform(size(yShape), seed + 1) };
}

describe('max and average pooling, forward and backward, GPU against reference', () => {
  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const p = setup(c, 10);
    expect(pool2dOutputShape(p.xShape, p.options)).toEqual(p.yShape);
    const run = (tx: Tensor, tdy: Tensor) => ({
      max: maxPool2d(tx, p.options),
      avg: avgPool2d(tx, p.options),
      maxDx: maxPool2dBackward(tdy, tx, p.options),
      avgDx: avgPool2dBackward(tdy, p.xShape, p.options),
    });
    const expected = {
      max: within(ref.maxPool2d(p.x, p.xShape, p.refOptions), { rtol: 0, atol: 0 }),
      avg: ref.avgPool2d(p.x, p.xShape, p.refOptions),
      maxDx: ref.maxPool2dBackward(p.dy, p.x, p.xShape, p.refOptions),
      avgDx: ref.avgPool2dBackward(p.dy, p.xShape, p.refOptions),
    };
    const { max, avgDx } = await expectOp(device, run, [[p.x, p.xShape], [p.dy, p.yShape]], expected, { rtol: 1e-5, atol: 1e-6 });
    expect(max.shape).toEqual(p.yShape);
    expect(avgDx.shape).toEqual(p.xShape);
  });

  it.skipIf(!device.hasTimestamps)('uses the one-thread-per-window gradient exactly when the windows tile the input', async () => {
    const kernelOf = async (c: Case) => {
      const p = setup(c, 20);
      const tx = device.tensor(p.x, p.xShape);
      const tdy = device.tensor(p.dy, p.yShape);
      device.startProfiling();
      const dx = maxPool2dBackward(tdy, tx, p.options);
      const kernels = (await device.stopProfiling()).map((k) => k.kernel);
      disposeAll(tx, tdy, dx);
      return kernels;
    };
    // On a CPU adapter the tiled rule runs a thread per row of windows (maxPool2dBackwardTiledRows).
    const tiled = isSoftwareAdapter(device) ? 'pool2d:maxPool2dBackwardTiledRows' : 'pool2d:maxPool2dBackwardTiled';
    expect(await kernelOf([3, 5, 8, 6, 2])).toEqual([tiled]);
    expect(await kernelOf([1, 3, 9, 6, 3])).toEqual([tiled]);
    expect(await kernelOf([1, 1, 5, 7, 2])).toEqual(['pool2d:maxPool2dBackward']); // 5x7 leaves a row and a column out
    expect(await kernelOf([1, 3, 6, 6, 2, 1])).toEqual(['pool2d:maxPool2dBackward']); // overlapping
    // The forward, likewise: a thread per output row of tiling windows on a CPU adapter, per
    // element elsewhere.
    const p = setup([3, 5, 8, 6, 2], 21);
    const tx = device.tensor(p.x, p.xShape);
    device.startProfiling();
    const y = maxPool2d(tx, p.options);
    expect((await device.stopProfiling()).map((k) => k.kernel)).toEqual([isSoftwareAdapter(device) ? 'pool2d:maxPool2dForwardTiledRows' : 'pool2d:maxPool2dForward']);
    disposeAll(tx, y);
  });

  it('sends the gradient of a window with repeated maxima to the first of them', async () => {
    // Every window's maximum, 5, appears more than once; row-major order decides which one wins.
    // prettier-ignore
    const x = [
      1, 5, 5, 0,
      5, 2, 5, 5,
      0, 5, 5, 1,
      5, 5, 3, 5,
    ];
    const run = (tx: Tensor, tdy: Tensor) => ({ disjoint: maxPool2dBackward(tdy, tx, { kernel: 2 }), overlapping: maxPool2dBackward(tdy, tx, { kernel: 3, stride: 1 }) });
    const expected = {
      // Disjoint 2x2 windows: first maxima at (0, 1), (0, 2), (2, 1), (2, 2).
      disjoint: [0, 1, 10, 0, 0, 0, 0, 0, 0, 100, 1000, 0, 0, 0, 0, 0],
      // Overlapping 3x3 windows, stride 1: first maxima at (0, 1) twice, (1, 0), (1, 2).
      overlapping: [0, 11, 0, 0, 100, 0, 1000, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    };
    const { overlapping } = await expectOp(device, run, [[x, [1, 1, 4, 4]], [[1, 10, 100, 1000], [1, 1, 2, 2]]], expected, 'exact');
    expect(Array.from(ref.maxPool2dBackward([1, 10, 100, 1000], x, [1, 1, 4, 4], { kernel: [3, 3], stride: [1, 1] }))).toEqual(Array.from(overlapping.values));
  });
});

describe('global average pooling', () => {
  it.each([
    [1, 1, 1, 1],
    [3, 17, 13, 13],
    [2, 5, 7, 3],
    [1, 3, 16, 17],
  ])('x [%i, %i, %i, %i]: forward and backward against the reference', async (n, c, h, w) => {
    const xShape = [n, c, h, w];
    const x = uniform(size(xShape), 40);
    const dy = uniform(n * c, 41);
    const run = (tx: Tensor, tdy: Tensor) => ({ y: globalAvgPool(tx), dx: globalAvgPoolBackward(tdy, xShape) });
    // Planes of up to 272 terms: 16 x 17 passes the elementwise check with margin as well.
    const expected = { y: within(ref.globalAvgPool(x, xShape), { rtol: 1e-4, atol: 1e-5 }), dx: within(ref.globalAvgPoolBackward(dy, xShape), { rtol: 1e-6, atol: 1e-8 }) };
    const { y } = await expectOp(device, run, [[x, xShape], [dy, [n, c]]], expected);
    expect(y.shape).toEqual([n, c]);
  });
});

describe('pooling derivative rules: reference against central differences', () => {
  const cases: Case[] = [
    [2, 2, 5, 4, 2],
    [1, 2, 7, 5, 3, 2, 1],
    [1, 1, 6, 5, [3, 2], [2, 1], [1, 0]],
    [1, 2, 4, 4, 3, 1, 1],
  ];
  it.each(cases.map((c) => [label(c), c] as const))('%s', (_, c) => {
    const p = setup(c, 50);
    const lw = lossWeights(size(p.yShape), 51);
    const tol = { rtol: 1e-6, atol: 1e-8 };
    // Distinct random values, so no window has a tie or a near tie within the step of 1e-6.
    const maxNumeric = finiteDifferenceGradient((x) => dot(ref.maxPool2d(x, p.xShape, p.refOptions), lw), p.x);
    expectClose(ref.maxPool2dBackward(lw, p.x, p.xShape, p.refOptions), maxNumeric, tol, 'max dx');
    const avgNumeric = finiteDifferenceGradient((x) => dot(ref.avgPool2d(x, p.xShape, p.refOptions), lw), p.x);
    expectClose(ref.avgPool2dBackward(lw, p.xShape, p.refOptions), avgNumeric, tol, 'avg dx');
  });

  it('global average pooling', () => {
    const xShape = [2, 3, 4, 5];
    const x = uniform(size(xShape), 60);
    const lw = lossWeights(6, 61);
    const numeric = finiteDifferenceGradient((v) => dot(ref.globalAvgPool(v, xShape), lw), x);
    expectClose(ref.globalAvgPoolBackward(lw, xShape), numeric, { rtol: 1e-6, atol: 1e-8 }, 'dx');
  });
});

describe('pooling bad input', () => {
  it('throws ShapeError naming the op and the shapes, before any dispatch', () => {
    const x = device.zeros([2, 3, 5, 5]);
    const flat = device.zeros([3, 5, 5]);
    const ints = device.zeros([2, 3, 5, 5], 'i32');
    const dy = device.zeros([2, 3, 2, 2]);
    const dyWrong = device.zeros([2, 3, 3, 2]);
    const before = device.dispatchCount;
    const throws = (f: () => unknown, message: RegExp) => {
      expect(f).toThrow(ShapeError);
      expect(f).toThrow(message);
    };
    throws(() => maxPool2d(flat, { kernel: 2 }), /maxPool2d: x must have rank 4, got shape \[3, 5, 5\]/);
    throws(() => avgPool2d(ints, { kernel: 2 }), /avgPool2d: x has dtype i32 \(shape \[2, 3, 5, 5\]\)/);
    throws(() => maxPool2d(x, { kernel: 7, padding: 0 }), /maxPool2d: x \[2, 3, 5, 5\] and kernel \[7, 7\]: the kernel is larger than the padded input 5x5/);
    throws(() => maxPool2d(x, { kernel: 2, padding: 2 }), /maxPool2d: padding \[2, 2\] is more than half the kernel 2x2/);
    throws(() => maxPool2d(x, { kernel: 0 }), /maxPool2d: kernel 0 must be integers >= 1/);
    throws(() => maxPool2dBackward(dyWrong, x, { kernel: 2 }), /maxPool2dBackward: dy \[2, 3, 3, 2\] and x \[2, 3, 5, 5\]: pooling gives \[2, 3, 2, 2\]/);
    throws(() => maxPool2dBackward(dy, ints, { kernel: 2 }), /maxPool2dBackward: x has dtype i32/);
    throws(() => avgPool2dBackward(dyWrong, [2, 3, 5, 5], { kernel: 2 }), /avgPool2dBackward: dy \[2, 3, 3, 2\] and inputShape \[2, 3, 5, 5\]/);
    throws(() => avgPool2dBackward(dy, [3, 5, 5], { kernel: 2 }), /avgPool2dBackward: inputShape must have rank 4, got \[3, 5, 5\] \(dy \[2, 3, 2, 2\]\)/);
    throws(() => globalAvgPool(flat), /globalAvgPool: x must have rank 4/);
    throws(() => globalAvgPoolBackward(dy, [2, 3, 5, 5]), /globalAvgPoolBackward: dy \[2, 3, 2, 2\] and inputShape \[2, 3, 5, 5\]: expected dy \[2, 3\]/);
    expect(device.dispatchCount).toBe(before);
    disposeAll(x, flat, ints, dy, dyWrong);
  });
});
