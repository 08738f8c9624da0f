import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import type { Tensor } from '../src/gpu/tensor.js';
import {
  conv2d,
  conv2dBackwardBias,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dOutputShape,
  convSubgroupUnavailable,
  type ConvKernel,
} from '../src/ops/conv.js';
import * as ref from '../src/reference/conv.js';
import { dispatchesOf, testDevice } from './helpers/device.js';
import { dot, expectClose, finiteDifferenceGradient, lossWeights, reductionCheck, uniform } from './helpers/numeric.js';
import { disposeAll, expectOp, within } from './helpers/ops.js';

const device = await testDevice();

/** [N, Cin, H, W, Cout, kH, kW, stride, padding] */
type Case = [number, number, number, number, number, number, number, number | [number, number], number | [number, number]];

const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const label = (c: Case) => `x [${c.slice(0, 4).join(', ')}], w [${c[4]}, ${c[1]}, ${c[5]}, ${c[6]}], stride ${JSON.stringify(c[7])}, padding ${JSON.stringify(c[8])}`;

// Awkward shapes: odd and non-square inputs, channel counts off the 4/8/16 register tiles,
// batch 1 and odd batches, kernels 1, 3, 5 and non-square, strides 1 and 2, padding 0, 1, 2.
const CASES: Case[] = [
  [1, 1, 5, 7, 1, 1, 1, 1, 0],
  [2, 3, 7, 5, 17, 3, 3, 1, 1],
  [3, 17, 13, 13, 3, 3, 3, 2, 1],
  [1, 3, 9, 6, 5, 5, 5, 1, 2],
  [3, 5, 8, 11, 9, 5, 5, 2, 2],
  [2, 4, 6, 6, 8, 1, 1, 2, 0],
  [1, 3, 3, 3, 4, 3, 3, 1, 0],
  [1, 3, 13, 13, 33, 3, 3, 1, 1],
  [3, 2, 7, 9, 6, 3, 2, [2, 1], [1, 0]],
  [5, 1, 13, 5, 7, 5, 3, 2, [0, 2]],
];

interface Problem {
  xShape: number[];
  wShape: number[];
  yShape: number[];
  options: { stride: [number, number]; padding: [number, number] };
  x: Float32Array;
  w: Float32Array;
  bias: Float32Array;
  dy: Float32Array;
}

function problem(c: Case, seed: number): Problem {
  const [n, cin, h, w, cout, kh, kw, stride, padding] = c;
  const xShape = [n, cin, h, w];
  const wShape = [cout, cin, kh, kw];
  const options = { stride: pair(stride), padding: pair(padding) };
  const yShape = ref.conv2dOutputShape(xShape, wShape, options);
  return {
    xShape,
    wShape,
    yShape,
    options,
    x: uniform(size(xShape), seed),
    w: uniform(size(wShape), seed + 1, -0.5, 0.5),
    bias: uniform(cout, seed + 2),
    dy: uniform(size(yShape), seed + 3),
  };
}

/** The float64 dx and dw of a problem, each held as the number of terms in its sums asks. */
function referenceGradients(p: Problem) {
  const [n, kh, kw] = [p.xShape[0]!, p.wShape[2]!, p.wShape[3]!];
  const [cout, ho, wo] = [p.yShape[1]!, p.yShape[2]!, p.yShape[3]!];
  return {
    dx: within(ref.conv2dBackwardInput(p.dy, p.w, p.xShape, p.wShape, p.options), reductionCheck(cout * kh * kw)),
    dw: within(ref.conv2dBackwardWeight(p.dy, p.x, p.xShape, p.wShape, p.options), reductionCheck(n * ho * wo)),
  };
}

describe('conv2d forward', () => {
  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const p = problem(c, 100);
    const terms = p.wShape[1]! * p.wShape[2]! * p.wShape[3]!;
    const fused = { ...p.options, activation: 'relu' } as const;
    const operands = [[p.x, p.xShape], [p.w, p.wShape], [p.bias, [p.wShape[0]!]]] as const;
    const expected = { y: ref.conv2d(p.x, p.xShape, p.w, p.wShape, p.options), fused: ref.conv2d(p.x, p.xShape, p.w, p.wShape, { ...fused, bias: p.bias }) };
    const out = await expectOp(device, (tx, tw, tb) => ({ y: conv2d(tx, tw, p.options), fused: conv2d(tx, tw, { ...fused, bias: tb }) }), operands, expected, reductionCheck(terms));
    expect(out.y.shape).toEqual(p.yShape);
    expect(conv2dOutputShape(p.xShape, p.wShape, p.options)).toEqual(p.yShape);
  });

  it('takes one number for stride and padding, and strided views as operands', async () => {
    const p = problem([2, 3, 6, 5, 4, 3, 3, 2, 1], 200);
    const tx = device.tensor(p.x, p.xShape);
    const tw = device.tensor(p.w, p.wShape);
    // A [N, Cin, W, H] tensor viewed as [N, Cin, H, W]: the op must make it dense first.
    const transposed = device.tensor(
      Float32Array.from({ length: p.x.length }, (_, i) => {
        const [n, c, wi, hi] = [Math.floor(i / 90), Math.floor(i / 30) % 3, Math.floor(i / 6) % 5, i % 6];
        return p.x[((n * 3 + c) * 6 + hi) * 5 + wi]!;
      }),
      [2, 3, 5, 6],
    );
    const view = transposed.transpose(2, 3);
    const y = conv2d(view, tw, { bias: undefined, stride: 2, padding: 1 });
    expectClose(await y.read(), ref.conv2d(p.x, p.xShape, p.w, p.wShape, p.options), {}, 'y');
    disposeAll(tx, tw, transposed, view, y);
  });
});

// Small problems: the finite differences call the reference forward twice per parameter.
const GRADIENT_CASES: Case[] = [
  [2, 3, 5, 4, 2, 3, 3, 1, 1],
  [1, 2, 7, 5, 3, 5, 5, 2, 2],
  [3, 2, 4, 6, 2, 1, 1, 2, 0],
  [1, 2, 6, 5, 3, 3, 2, [2, 1], [1, 0]],
];

describe('conv2d derivative rules: reference against central differences', () => {
  it.each(GRADIENT_CASES.map((c) => [label(c), c] as const))('%s', (_, c) => {
    const p = problem(c, 300);
    const lw = lossWeights(size(p.yShape), 301);
    const loss = (x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number>) =>
      dot(ref.conv2d(x, p.xShape, w, p.wShape, { ...p.options, bias }), lw);
    const tol = { rtol: 1e-6, atol: 1e-8 };
    expectClose(ref.conv2dBackwardInput(lw, p.w, p.xShape, p.wShape, p.options), finiteDifferenceGradient((x) => loss(x, p.w, p.bias), p.x), tol, 'dx');
    expectClose(ref.conv2dBackwardWeight(lw, p.x, p.xShape, p.wShape, p.options), finiteDifferenceGradient((w) => loss(p.x, w, p.bias), p.w), tol, 'dw');
    expectClose(ref.conv2dBackwardBias(lw, p.yShape), finiteDifferenceGradient((b) => loss(p.x, p.w, b), p.bias), tol, 'dbias');
  });
});

describe('conv2d derivative rules: GPU against reference', () => {
  const cases: Case[] = [...CASES, [3, 3, 13, 13, 17, 3, 3, 1, 1], [1, 17, 13, 13, 1, 5, 5, 1, 2]];
  it.each(cases.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const p = problem(c, 400);
    const [n, cout, ho, wo] = [p.xShape[0]!, p.yShape[1]!, p.yShape[2]!, p.yShape[3]!];
    const gradients = (tx: Tensor, tw: Tensor, tdy: Tensor) => ({
      dx: conv2dBackwardInput(tdy, tw, p.xShape, p.options),
      dw: conv2dBackwardWeight(tdy, tx, p.wShape, p.options),
      dbias: conv2dBackwardBias(tdy),
    });
    const expected = { ...referenceGradients(p), dbias: within(ref.conv2dBackwardBias(p.dy, p.yShape), reductionCheck(n * ho * wo)) };
    const { dx, dw, dbias } = await expectOp(device, gradients, [[p.x, p.xShape], [p.w, p.wShape], [p.dy, p.yShape]], expected);
    expect(dx.shape).toEqual(p.xShape);
    expect(dw.shape).toEqual(p.wShape);
    expect(dbias.shape).toEqual([cout]);
  });
});

// The tests above take the default flavour (subgroup for more than 8 channels on lavapipe);
// here each flavour is forced on both sides of that line: channels 3, 6, 9, 17, 33, 35 and 40,
// strides 1 and 2, padding on one axis only. The subgroup flavour's GEMM kernels work in tiles
// of 16 positions (or taps) x 32 channels, 4 taps (or positions) a step: the unit-stride cases
// cross those edges (35 and 40 channels, 27 and 35 taps, a 5x3 kernel whose turned-round
// padding differs per axis (2 and 1), a 1x1 kernel), and a 1x1 kernel padded by 1, wider than
// the kernel less one, whose input gradient cannot be turned round.
describe.each((['portable', 'subgroup'] as ConvKernel[]).map((kernel) => ({ kernel, unavailable: kernel === 'subgroup' ? convSubgroupUnavailable(device) : undefined })))(
  'conv2d, $kernel kernels forced',
  ({ kernel, unavailable }) => {
    const test = unavailable ? it.skip : it;
    if (unavailable) it.skip(`skipped: ${unavailable}`, () => undefined);
    const cases: Case[] = [
      [2, 3, 7, 5, 17, 3, 3, 1, 1],
      [3, 17, 13, 13, 3, 3, 3, 2, 1],
      [3, 5, 8, 11, 9, 5, 5, 2, 2],
      [3, 2, 7, 9, 6, 3, 2, [2, 1], [1, 0]],
      [1, 3, 13, 13, 33, 3, 3, 1, 1],
      [2, 9, 11, 7, 40, 5, 3, 1, [2, 1]],
      [3, 35, 6, 9, 7, 1, 1, 1, 0],
      [2, 9, 6, 7, 12, 1, 1, 1, 1],
    ];
    test.each(cases.map((c) => [label(c), c] as const))('%s', async (_, c) => {
      const p = problem(c, 500);
      const [cin, kh, kw] = [p.xShape[1]!, p.wShape[2]!, p.wShape[3]!];
      const forced = { ...p.options, kernel };
      const run = (tx: Tensor, tw: Tensor, tb: Tensor, tdy: Tensor) => ({
        fused: conv2d(tx, tw, { ...forced, bias: tb, activation: 'relu' }),
        dx: conv2dBackwardInput(tdy, tw, p.xShape, forced),
        dw: conv2dBackwardWeight(tdy, tx, p.wShape, forced),
      });
      const fused = ref.conv2d(p.x, p.xShape, p.w, p.wShape, { ...p.options, bias: p.bias, activation: 'relu' });
      const operands = [[p.x, p.xShape], [p.w, p.wShape], [p.bias, [p.wShape[0]!]], [p.dy, p.yShape]] as const;
      await expectOp(device, run, operands, { fused: within(fused, reductionCheck(cin * kh * kw)), ...referenceGradients(p) });
    });
  },
);

// The weight gradient's reduction over the batch, cut into chunks whose partial sums are added
// afterwards: chunk sizes that divide the batch, that leave a short last chunk, and one image per
// chunk, on both sides of the kernels' 4-tap and channel-block edges; and the default choice on a
// problem large enough to be split (5 x 17 x 17 positions); both kernels.
describe.each((['portable', 'subgroup'] as ConvKernel[]).map((kernel) => ({ kernel, unavailable: kernel === 'subgroup' ? convSubgroupUnavailable(device) : undefined })))(
  'conv2d weight gradient over batch chunks, $kernel kernel',
  ({ kernel, unavailable }) => {
    const test = unavailable ? it.skip : it;
    if (unavailable) it.skip(`skipped: ${unavailable}`, () => undefined);
    const cases: [Case, number | undefined][] = [
      [[5, 3, 9, 7, 17, 3, 3, 1, 1], 1],
      [[5, 3, 9, 7, 17, 3, 3, 1, 1], 2],
      [[6, 2, 7, 9, 6, 3, 2, [2, 1], [1, 0]], 3],
      [[7, 5, 8, 11, 9, 5, 5, 2, 2], 4],
      [[5, 3, 17, 17, 4, 3, 3, 1, 1], undefined],
    ];
    test.each(cases.map(([c, chunk]) => [`${label(c)}, batchChunk ${chunk ?? 'default'}`, c, chunk] as const))('%s', async (_, c, batchChunk) => {
      const p = problem(c, 600);
      const [n, ho, wo] = [p.xShape[0]!, p.yShape[2]!, p.yShape[3]!];
      const tx = device.tensor(p.x, p.xShape);
      const tdy = device.tensor(p.dy, p.yShape);
      const options = { ...p.options, kernel, ...(batchChunk ? { batchChunk } : {}) };
      // The batch really is split: the partials cost at least one more dispatch to add up than
      // one chunk (the pack and the kernel).
      const unsplit = dispatchesOf(device, () => conv2dBackwardWeight(tdy, tx, p.wShape, { ...options, batchChunk: n }));
      expect(dispatchesOf(device, () => conv2dBackwardWeight(tdy, tx, p.wShape, options))).toBeGreaterThan(unsplit);
      const buffers = device.pool.stats().liveBuffers;
      const expected = ref.conv2dBackwardWeight(p.dy, p.x, p.xShape, p.wShape, p.options);
      await expectOp(device, (dy, x) => conv2dBackwardWeight(dy, x, p.wShape, options), [tdy, tx], expected, reductionCheck(n * ho * wo), { what: 'dw' });
      // The partials and the packed gradient are released.
      expect(device.pool.stats().liveBuffers).toBe(buffers);
      disposeAll(tx, tdy);
    });
  },
);

describe('conv2d weight gradient batch chunks, bad input', () => {
  it('refuses a batchChunk that is not a positive integer', () => {
    const tx = device.zeros([2, 1, 5, 5]);
    const tdy = device.zeros([2, 1, 3, 3]);
    expect(() => conv2dBackwardWeight(tdy, tx, [1, 1, 3, 3], { batchChunk: 0 })).toThrow(/conv2dBackwardWeight: batchChunk must be a positive integer, got 0/);
    disposeAll(tx, tdy);
  });
});

describe('conv2d bad input', () => {
  it('throws ShapeError naming the op and both shapes, before any dispatch', () => {
    const x = device.zeros([2, 3, 8, 8]);
    const w = device.zeros([4, 5, 3, 3]);
    const wOk = device.zeros([4, 3, 3, 3]);
    const big = device.zeros([4, 3, 11, 11]);
    const flat = device.zeros([3, 8, 8]);
    const ints = device.zeros([2, 3, 8, 8], 'i32');
    const bias = device.zeros([5]);
    const dy = device.zeros([2, 4, 8, 8]);
    const dyWrong = device.zeros([2, 4, 7, 8]);
    const before = device.dispatchCount;
    const throws = (f: () => unknown, message: RegExp) => {
      expect(f).toThrow(ShapeError);
      expect(f).toThrow(message);
    };
    throws(() => conv2d(x, w), /conv2d: x \[2, 3, 8, 8\] and w \[4, 5, 3, 3\]: input channels 3 and 5 differ/);
    throws(() => conv2d(flat, wOk), /conv2d: x must have rank 4, got shape \[3, 8, 8\]/);
    throws(() => conv2d(x, big, { padding: 1 }), /conv2d: x \[2, 3, 8, 8\] and w \[4, 3, 11, 11\]: kernel 11x11 is larger than the padded input 10x10/);
    throws(() => conv2d(ints, wOk), /conv2d: x has dtype i32 \(shape \[2, 3, 8, 8\]\)/);
    throws(() => conv2d(x, wOk, { bias }), /conv2d: bias \[5\] does not match w \[4, 3, 3, 3\]/);
    throws(() => conv2d(x, wOk, { stride: 0 }), /conv2d: stride 0/);
    throws(() => conv2dBackwardInput(dy, w, [2, 3, 8, 8], { padding: 1 }), /conv2dBackwardInput: inputShape \[2, 3, 8, 8\] and w \[4, 5, 3, 3\]/);
    throws(() => conv2dBackwardInput(dyWrong, wOk, [2, 3, 8, 8], { padding: 1 }), /conv2dBackwardInput: dy \[2, 4, 7, 8\] and w \[4, 3, 3, 3\]/);
    throws(() => conv2dBackwardInput(dy, wOk, [3, 8, 8], { padding: 1 }), /conv2dBackwardInput: inputShape must be a shape of rank 4/);
    throws(() => conv2dBackwardWeight(dyWrong, x, [4, 3, 3, 3], { padding: 1 }), /conv2dBackwardWeight: dy \[2, 4, 7, 8\] and x \[2, 3, 8, 8\]/);
    throws(() => conv2dBackwardWeight(dy, x, [4, 5, 3, 3], { padding: 1 }), /conv2dBackwardWeight: x \[2, 3, 8, 8\] and weightShape \[4, 5, 3, 3\]/);
    throws(() => conv2dBackwardWeight(dy, ints, [4, 3, 3, 3], { padding: 1 }), /conv2dBackwardWeight: x has dtype i32/);
    throws(() => conv2dBackwardBias(flat), /conv2dBackwardBias: dy must have rank 4/);
    expect(device.dispatchCount).toBe(before);
    disposeAll(x, w, wOk, big, flat, ints, bias, dy, dyWrong);
  });
});
