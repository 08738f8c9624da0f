import { describe, expect, it } from 'vitest';
import { ops, reference, ShapeError, type Tensor } from '../src/index.js';
import { testDevice } from './helpers/device.js';
import { dot, expectClose, finiteDifferenceGradient, lossWeights, uniform } from './helpers/numeric.js';
import { expectOp } from './helpers/ops.js';

const device = await testDevice();

const SIZES = [1, 3, 17, 63, 65, 127, 129, 70_000];

describe('binary ops', () => {
  it.each(SIZES)('add, sub, mul, div, max, min on %i elements', async (n) => {
    const a = uniform(n, 1);
    const b = uniform(n, 2, 0.5, 2);
    const cases: Array<[(x: Tensor, y: Tensor) => Tensor, (x: number, y: number) => number]> = [
      [ops.add, (x, y) => x + y],
      [ops.sub, (x, y) => x - y],
      [ops.mul, (x, y) => x * y],
      [ops.div, (x, y) => x / y],
      [ops.maximum, Math.max],
      [ops.minimum, Math.min],
    ];
    for (const [op, f] of cases) {
      await expectOp(device, op, [[a, [n]], [b, [n]]], reference.broadcastBinary(a, [n], b, [n], f), { rtol: 1e-6, atol: 1e-7 });
    }
  });

  it.each([
    [[3, 17], [17]],
    [[4, 1, 5], [3, 1]],
    [[1], [2, 65]],
    [[2, 3, 1, 7], [1, 3, 5, 1]],
    // One element: the axes merge into one, the outermost, which the kernel walks without a division.
    [[1, 1], [1]],
    // Two merged axes of at least 64 columns take binaryRows: a row over a batch, a column over
    // a matrix (either operand), columns that no workgroup size divides.
    [[5, 70], [70]],
    [[70, 1], [70, 130]],
    [[2, 3, 257], [257]],
    [[9, 1], [1, 64]],
    // Rows of a multiple of 4 take binaryRows4: a row over a batch (short and long rows), a column over a matrix.
    [[3, 1028], [1028]],
    [[12, 1], [12, 132]],
    // A column of 2 or 3 rows: fewer values than one vec4.
    [[2, 64], [2, 1]],
    [[3, 1], [3, 68]],
  ])('broadcasts %j with %j', async (as, bs) => {
    const a = uniform(as.reduce((x, y) => x * y, 1), 3);
    const b = uniform(bs.reduce((x, y) => x * y, 1), 4);
    await expectOp(device, (x, y) => ops.mul(x, y), [[a, as], [b, bs]], reference.broadcastBinary(a, as, b, bs, (x, y) => x * y), { rtol: 1e-6, atol: 0 });
  });

  it('broadcasts a row over more rows than one grid dimension holds (binaryRows folds them over z), and keeps the operand order of a difference', async () => {
    // Rows longer than half a workgroup (256 threads here) get a workgroup row each: 65,537 of them exceed the 65,535 of one dimension.
    const rows = 65_537;
    const cols = 129;
    const a = uniform(rows * cols, 8);
    const b = uniform(cols, 9);
    await expectOp(device, (x, y) => ops.sub(x, y), [[a, [rows, cols]], [b, [cols]]], reference.broadcastBinary(a, [rows, cols], b, [cols], (x, y) => x - y), { rtol: 1e-6, atol: 1e-7 });
    await expectOp(device, (x, y) => ops.div(x, y), [[b, [cols]], [a.subarray(0, 3 * cols), [3, cols]]], reference.broadcastBinary(b, [cols], a.subarray(0, 3 * cols), [3, cols], (x, y) => x / y), { rtol: 1e-6, atol: 0 });
  });

  it('accepts strided views as operands', async () => {
    const a = uniform(12, 5);
    const ta = device.tensor(a, [3, 4]);
    const view = ta.transpose();
    const out = ops.add(view, view);
    const expected = reference.permute(a, [3, 4], [1, 0]).map((v) => 2 * v);
    expectClose(await out.read(), expected, { rtol: 1e-6, atol: 0 });
    for (const t of [ta, view, out]) t.dispose();
  });

  it('accumulates in place', async () => {
    const a = uniform(65, 6);
    const b = uniform(65, 7);
    const ta = device.tensor(a);
    const tb = device.tensor(b);
    ops.addInPlace(ta, tb, -0.5);
    expectClose(await ta.read(), reference.broadcastBinary(a, [65], b, [65], (x, y) => x - 0.5 * y), { rtol: 1e-6, atol: 1e-7 });
    ta.dispose();
    tb.dispose();
  });

  it('rejects shapes that do not broadcast, naming both, before dispatch', () => {
    const ta = device.zeros([3, 4]);
    const tb = device.zeros([5]);
    const before = device.dispatchCount;
    expect(() => ops.add(ta, tb)).toThrow(ShapeError);
    expect(() => ops.add(ta, tb)).toThrow(/add: shapes \[3, 4\] and \[5\] do not broadcast/);
    const labels = device.zeros([3, 4], 'i32');
    expect(() => ops.mul(ta, labels)).toThrow(/mul: b has dtype i32/);
    expect(device.dispatchCount).toBe(before);
    for (const t of [ta, tb, labels]) t.dispose();
  });
});

describe('unary ops and activations', () => {
  it.each(SIZES)('affine, relu, gelu, exp, log, sqrt, abs, square, tanh, leakyRelu on %i elements', async (n) => {
    const x = uniform(n, 11, -6, 6);
    const positive = uniform(n, 12, 0.01, 10);
    // Each op reads x, or the positive p.
    const cases: Array<[(x: Tensor, p: Tensor) => Tensor, Float64Array, number]> = [
      [(t) => ops.affine(t, 2.5, -1), reference.map(x, (v) => 2.5 * v - 1), 1e-6],
      [(t) => ops.relu(t), reference.relu(x), 0],
      [(t) => ops.gelu(t), reference.gelu(x), 2e-6],
      [(t) => ops.exp(t), reference.map(x, Math.exp), 1e-5],
      [(_, p) => ops.log(p), reference.map(positive, Math.log), 1e-5],
      [(_, p) => ops.sqrt(p), reference.map(positive, Math.sqrt), 1e-6],
      [(t) => ops.abs(t), reference.map(x, Math.abs), 0],
      [(t) => ops.square(t), reference.map(x, (v) => v * v), 1e-6],
      [(t) => ops.tanh(t), reference.tanh(x), 2e-6],
      [(t) => ops.leakyRelu(t), reference.leakyRelu(x, 0.01), 1e-6],
      [(t) => ops.leakyRelu(t, -0.3), reference.leakyRelu(x, -0.3), 1e-6],
    ];
    for (const [op, expected, rtol] of cases) {
      await expectOp(device, op, [[x, [n]], [positive, [n]]], expected, { rtol, atol: 1e-6 });
    }
  });

  it('computes tanh in its far tails as +-1, never NaN (near 0 within the absolute error WGSL allows)', async () => {
    const x = [-1e30, -89, -20, -9.5, 0, 1e-7, 9.5, 20, 89, 1e30];
    await expectOp(device, (t) => ops.tanh(t), [[x, [10]]], reference.tanh(x), { rtol: 1e-6, atol: 1e-6 });
    const tails = Array.from(await (() => {
      const t = device.tensor([-1e30, -89, 89, 1e30], [4]);
      const y = ops.tanh(t);
      t.dispose();
      return y.read().finally(() => y.dispose());
    })());
    expect(tails).toEqual([-1, -1, 1, 1]);
  });

  it('computes GELU in its far tails (erf form, not tanh)', async () => {
    const x = [-10, -7, -5, -3, 0, 3, 5, 7, 10];
    await expectOp(device, (t) => ops.gelu(t), [[x, [9]]], reference.gelu(x), { rtol: 1e-5, atol: 1e-30 });
  });
});

describe('activation derivative rules', () => {
  // tanh's rule reads the forward output y = tanh(x), not x.
  it('tanh: the reference rule, from y, matches central differences of tanh(x)', () => {
    const x = Float64Array.from(uniform(33, 23, -4, 4));
    const w = lossWeights(33, 24);
    const numeric = finiteDifferenceGradient((p) => dot(reference.tanh(p), w), x);
    expectClose(reference.tanhBackward(w, reference.tanh(x)), numeric, { rtol: 1e-6, atol: 1e-8 });
  });

  it.each([1, 17, 127, 4099])('tanh: the GPU rule matches the reference on %i elements', async (n) => {
    const y = Float64Array.from(uniform(n, 33, -5, 5), (v) => Math.fround(Math.tanh(v)));
    const dy = uniform(n, 34);
    await expectOp(device, (tdy, ty) => ops.tanhBackward(tdy, ty), [[dy, [n]], [y, [n]]], reference.tanhBackward(dy, y), { rtol: 1e-5, atol: 1e-6 });
  });

  for (const [name, forward, backwardRef, backward] of [
    ['relu', reference.relu, reference.reluBackward, ops.reluBackward],
    ['gelu', reference.gelu, reference.geluBackward, ops.geluBackward],
    // PredSim's activation at its slope, and at a slope of another sign.
    ['leakyRelu (slope 0.01)', (x: Float64Array) => reference.leakyRelu(x, 0.01), (dy: ArrayLike<number>, x: ArrayLike<number>) => reference.leakyReluBackward(dy, x, 0.01), (dy: Tensor, x: Tensor) => ops.leakyReluBackward(dy, x)],
    ['leakyRelu (slope -0.5)', (x: Float64Array) => reference.leakyRelu(x, -0.5), (dy: ArrayLike<number>, x: ArrayLike<number>) => reference.leakyReluBackward(dy, x, -0.5), (dy: Tensor, x: Tensor) => ops.leakyReluBackward(dy, x, -0.5)],
  ] as const) {
    it(`${name}: the reference rule matches central differences`, () => {
      // Points away from relu's kink, where the derivative is undefined.
      const x = Float64Array.from(uniform(33, 21, -4, 4)).map((v) => (Math.abs(v) < 1e-3 ? 0.5 : v));
      const w = lossWeights(33, 22);
      const numeric = finiteDifferenceGradient((p) => dot(forward(p), w), x);
      expectClose(backwardRef(w, x), numeric, { rtol: 1e-6, atol: 1e-8 });
    });

    it.each([1, 17, 127, 4099])(`${name}: the GPU rule matches the reference on %i elements`, async (n) => {
      const x = uniform(n, 31, -5, 5);
      const dy = uniform(n, 32);
      await expectOp(device, (tdy, tx) => backward(tdy, tx), [[dy, [n]], [x, [n]]], backwardRef(dy, x), { rtol: 1e-5, atol: 1e-6 });
    });
  }
});
