import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { layerNorm, layerNormBackward } from '../src/ops/layernorm.js';
import * as reference from '../src/reference/layernorm.js';
import { testDevice } from './helpers/device.js';
import { dot, expectClose, expectNormalizedClose, finiteDifferenceGradient, lossWeights, normal, reductionCheck, uniform } from './helpers/numeric.js';
import { expectOp, within } from './helpers/ops.js';

const device = await testDevice();

const ROWS = [1, 3, 17, 127];
const LENGTHS = [1, 3, 10, 17, 63, 65, 127, 129, 1000, 4097];

/** Inputs with a non-zero mean, so that the mean subtraction matters. */
function inputs(rows: number, cols: number, seed: number) {
  return {
    x: normal(rows * cols, seed, 2).map((v) => v + 3),
    gamma: uniform(cols, seed + 1, 0.5, 1.5),
    beta: uniform(cols, seed + 2),
    dy: uniform(rows * cols, seed + 3),
  };
}

describe('layerNorm forward', () => {
  it.each(LENGTHS)('matches the reference on rows of length %i', async (cols) => {
    for (const rows of ROWS) {
      const { x, gamma, beta } = inputs(rows, cols, rows * 1000 + cols);
      const operands = [[x, [rows, cols]], [gamma, [cols]], [beta, [cols]]] as const;
      const expected = reference.layerNorm(x, gamma, beta, cols);
      const { mean } = await expectOp(device, (tx, tg, tb) => layerNorm(tx, tg, tb), operands, expected, reductionCheck(cols), { what: `${rows}x${cols}` });
      expect(mean.shape).toEqual([rows]);
    }
  });

  it('takes eps, rank 3 inputs and strided views', async () => {
    const x = normal(7 * 7, 5);
    const gamma = uniform(7, 6);
    const beta = uniform(7, 7);
    const expected = reference.layerNorm(x.subarray(0, 42), gamma, beta, 7, 0.5);
    const operands = [[x.subarray(0, 42), [2, 3, 7]], [gamma, [7]], [beta, [7]]] as const;
    const { mean } = await expectOp(device, (tx, tg, tb) => layerNorm(tx, tg, tb, { eps: 0.5 }), operands, { y: expected.y, rstd: expected.rstd });
    expect(mean.shape).toEqual([6]);
    const square = device.tensor(x.subarray(0, 49), [7, 7]);
    const view = square.transpose();
    const transposed = Float64Array.from({ length: 49 }, (_, i) => x[(i % 7) * 7 + Math.floor(i / 7)]!);
    await expectOp(device, (v, tg, tb) => layerNorm(v, tg, tb), [view, [gamma, [7]], [beta, [7]]], { y: reference.layerNorm(transposed, gamma, beta, 7).y });
    for (const t of [square, view]) t.dispose();
  });
});

describe('layerNorm derivative rules', () => {
  it('the reference dx, dgamma and dbeta match central differences', () => {
    const rows = 3;
    const cols = 6;
    const { x, gamma, beta } = inputs(rows, cols, 11);
    const w = lossWeights(rows * cols, 12);
    const forward = (px: ArrayLike<number>, pg: ArrayLike<number>, pb: ArrayLike<number>) => dot(reference.layerNorm(px, pg, pb, cols).y, w);
    const saved = reference.layerNorm(x, gamma, beta, cols);
    const analytic = reference.layerNormBackward(w, x, saved.mean, saved.rstd, gamma, cols);
    expectClose(analytic.dx, finiteDifferenceGradient((p) => forward(p, gamma, beta), x), { rtol: 1e-6, atol: 1e-8 }, 'dx');
    expectClose(analytic.dgamma, finiteDifferenceGradient((p) => forward(x, p, beta), gamma), { rtol: 1e-6, atol: 1e-8 }, 'dgamma');
    expectClose(analytic.dbeta, finiteDifferenceGradient((p) => forward(x, gamma, p), beta), { rtol: 1e-6, atol: 1e-8 }, 'dbeta');
  });

  it.each(LENGTHS)('the GPU rules match the reference on rows of length %i', async (cols) => {
    for (const rows of ROWS) {
      const { x, gamma, beta, dy } = inputs(rows, cols, rows * 7 + cols);
      const saved = reference.layerNorm(x, gamma, beta, cols);
      const operands = [[dy, [rows, cols]], [x, [rows, cols]], [saved.mean, [rows]], [saved.rstd, [rows]], [gamma, [cols]]] as const;
      const expected = reference.layerNormBackward(dy, x, saved.mean, saved.rstd, gamma, cols);
      // dx sums over a row, dgamma and dbeta over the rows.
      const sums = { dx: expected.dx, dgamma: within(expected.dgamma, reductionCheck(rows)), dbeta: within(expected.dbeta, reductionCheck(rows)) };
      await expectOp(device, (tdy, tx, tm, tr, tg) => layerNormBackward(tdy, tx, tm, tr, tg), operands, sums, reductionCheck(cols), { what: `${rows}x${cols}` });
    }
  });

  it('reduces dgamma and dbeta over many rows in two deterministic stages', async () => {
    const rows = 5003;
    const cols = 17;
    const { x, gamma, beta, dy } = inputs(rows, cols, 21);
    const saved = reference.layerNorm(x, gamma, beta, cols);
    const tensors = [device.tensor(dy, [rows, cols]), device.tensor(x, [rows, cols]), device.tensor(saved.mean), device.tensor(saved.rstd), device.tensor(gamma)] as const;
    const before = device.dispatchCount;
    const first = layerNormBackward(...tensors);
    expect(device.dispatchCount - before, 'dx, partial sums, finish').toBe(3);
    const second = layerNormBackward(...tensors);
    const expected = reference.layerNormBackward(dy, x, saved.mean, saved.rstd, gamma, cols);
    const dgamma = await first.dgamma.read();
    expectNormalizedClose(dgamma, expected.dgamma, 1e-7, 'dgamma');
    expectNormalizedClose(await first.dbeta.read(), expected.dbeta, 1e-7, 'dbeta');
    expectClose(await first.dx.read(), expected.dx, { rtol: 1e-4, atol: 1e-5 }, 'dx');
    // Bit-for-bit the same on a second run: no atomics, a fixed order of summation.
    expect(Array.from(await second.dgamma.read())).toEqual(Array.from(dgamma));
    for (const t of [...tensors, first.dx, first.dgamma, first.dbeta, second.dx, second.dgamma, second.dbeta]) t.dispose();
  });
});

describe('many rows', () => {
  it('folds more rows than one grid dimension holds, forward and backward', async () => {
    const rows = 70_000;
    const cols = 2;
    const { x, gamma, beta, dy } = inputs(rows, cols, 31);
    const forwardThenBackward = (tx: Tensor, tg: Tensor, tb: Tensor, tdy: Tensor) => {
      const forward = layerNorm(tx, tg, tb);
      return { ...forward, ...layerNormBackward(tdy, tx, forward.mean, forward.rstd, tg) };
    };
    const expected = reference.layerNorm(x, gamma, beta, cols);
    const grads = reference.layerNormBackward(dy, x, expected.mean, expected.rstd, gamma, cols);
    // Where a row's two values nearly agree, x - mean is ill-conditioned (and rstd approaches
    // 1/sqrt(eps)): among 70,000 rows some do, so y and dx are compared in norm.
    const operands = [[x, [rows, cols]], [gamma, [cols]], [beta, [cols]], [dy, [rows, cols]]] as const;
    await expectOp(device, forwardThenBackward, operands, { y: expected.y, dx: grads.dx, dgamma: grads.dgamma, dbeta: grads.dbeta }, { normalizedError: 1e-7 });
  });
});

describe('bad input', () => {
  it('throws ShapeError before dispatch, naming the op and both shapes', () => {
    const x = device.zeros([4, 10]);
    const gamma = device.zeros([10]);
    const wrongGamma = device.zeros([9]);
    const rowStats = device.zeros([4]);
    const wrongStats = device.zeros([5]);
    const otherDy = device.zeros([4, 9]);
    const ints = device.zeros([4, 10], 'i32');
    const before = device.dispatchCount;
    expect(() => layerNorm(x, wrongGamma, gamma)).toThrow(ShapeError);
    expect(() => layerNorm(x, wrongGamma, gamma)).toThrow(/layerNorm: gamma \[9\] and x \[4, 10\]: gamma must have shape \[10\]/);
    expect(() => layerNorm(x, gamma, wrongGamma)).toThrow(/layerNorm: beta \[9\] and x \[4, 10\]/);
    expect(() => layerNorm(ints, gamma, gamma)).toThrow(/layerNorm: x \[4, 10\] has dtype i32/);
    expect(() => layerNormBackward(otherDy, x, rowStats, rowStats, gamma)).toThrow(/layerNormBackward: dy \[4, 9\] and x \[4, 10\] must have the same shape/);
    expect(() => layerNormBackward(x, x, wrongStats, rowStats, gamma)).toThrow(/layerNormBackward: mean \[5\] and x \[4, 10\]/);
    expect(() => layerNormBackward(x, x, rowStats, rowStats, wrongGamma)).toThrow(/layerNormBackward: gamma \[9\] and x \[4, 10\]/);
    expect(device.dispatchCount).toBe(before);
    for (const t of [x, gamma, wrongGamma, rowStats, wrongStats, otherDy, ints]) t.dispose();
  });
});
