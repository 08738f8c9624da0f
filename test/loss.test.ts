import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { bhattacharyya, crossEntropy, sllClassLoss } from '../src/ops/loss.js';
import * as reference from '../src/reference/loss.js';
import { logSoftmax as referenceLogSoftmax } from '../src/reference/softmax.js';
import { testDevice } from './helpers/device.js';
import { expectClose, finiteDifferenceGradient, normal, reductionCheck, rng } from './helpers/numeric.js';
import { expectOp, runOp, within } from './helpers/ops.js';

const device = await testDevice();

const ROWS = [1, 3, 17, 127];
const LENGTHS = [1, 3, 10, 17, 63, 65, 127, 129, 1000, 4097];
const TAUS = [0.5, 1, 2, 5];

function randomLabels(rows: number, cols: number, seed: number): Int32Array {
  const next = rng(seed);
  return Int32Array.from({ length: rows }, () => Math.floor(next() * cols));
}

/** A proper log-distribution per row (log softmax of random logits). */
function randomLogQ(rows: number, cols: number, seed: number, spread = 2): Float32Array {
  return Float32Array.from(referenceLogSoftmax(normal(rows * cols, seed, spread), cols));
}

const sum = (values: ArrayLike<number>) => Array.from(values).reduce((a, b) => a + b, 0);

describe('crossEntropy', () => {
  it.each(LENGTHS)('matches the reference on rows of length %i', async (cols) => {
    for (const rows of ROWS) {
      const logits = normal(rows * cols, rows * 131 + cols, 3);
      const labels = randomLabels(rows, cols, rows + cols);
      const operands = [[logits, [rows, cols]], [labels, [rows], 'i32']] as const;
      const expected = reference.crossEntropy(logits, labels, cols);
      const { loss, grad } = await expectOp(device, (tl, ty) => crossEntropy(tl, ty), operands, expected, reductionCheck(cols), { what: `${rows}x${cols}` });
      expect(loss.shape).toEqual([rows]);
      expect(grad.shape).toEqual([rows, cols]);
    }
  });

  it.each(TAUS)('takes a temperature and a scale (tau = %f)', async (tau) => {
    const logits = normal(17 * 10, 5, 2);
    const labels = randomLabels(17, 10, 6);
    const options = { temperature: tau, scale: 0.25 };
    await expectOp(device, (tl, ty) => crossEntropy(tl, ty, options), [[logits, [17, 10]], [labels, [17], 'i32']], reference.crossEntropy(logits, labels, 10, options));
  });

  it.each(TAUS)('the reference gradient matches central differences (tau = %f)', (tau) => {
    const cols = 7;
    const rows = 3;
    const logits = Float64Array.from(normal(rows * cols, 7));
    const labels = [2, 0, 6];
    const scale = 1 / rows;
    const numeric = finiteDifferenceGradient((p) => scale * sum(reference.crossEntropy(p, labels, cols, { temperature: tau }).loss), logits);
    expectClose(reference.crossEntropy(logits, labels, cols, { temperature: tau }).grad, numeric, { rtol: 1e-6, atol: 1e-8 });
  });

  it('stays finite on logits of 1e4 (log-sum-exp)', async () => {
    const logits = [1e4, -1e4, 9999, 0, 1e4, 1e4, -1e4, -1e4];
    const labels = [1, 3];
    const expected = reference.crossEntropy(logits, labels, 4);
    const { loss } = await expectOp(device, (tl, ty) => crossEntropy(tl, ty), [[logits, [2, 4]], [labels, [2], 'i32']], {
      loss: within(expected.loss, { rtol: 1e-6, atol: 1e-3 }),
      grad: expected.grad,
    });
    expect(Array.from(loss.values).every(Number.isFinite)).toBe(true);
  });

  it('makes the loss and gradient of a row with an out-of-range label NaN, and only that row', async () => {
    const cols = 5;
    const logits = normal(4 * cols, 8);
    const labels = [-1, 2, cols, 1 << 30];
    const { loss, grad } = await runOp(device, (tl, ty) => crossEntropy(tl, ty), [[logits, [4, cols]], [labels, [4], 'i32']]);
    const [lv, gv] = [loss.values, grad.values];
    expect([0, 2, 3].every((r) => Number.isNaN(lv[r]))).toBe(true);
    expect(Array.from(gv.subarray(0, cols)).every(Number.isNaN)).toBe(true);
    const expected = reference.crossEntropy(logits, labels, cols);
    expectClose([lv[1]!], [expected.loss[1]!]);
    expectClose(gv.subarray(cols, 2 * cols), expected.grad.subarray(cols, 2 * cols));
  });

  it('reads strided views and folds more rows than one grid dimension holds', async () => {
    const rows = 70_000;
    const logits = normal(rows * 2, 9);
    const labels = randomLabels(rows, 2, 10);
    const expected = reference.crossEntropy(logits, labels, 2);
    await expectOp(device, (tl, ty) => crossEntropy(tl, ty), [[logits, [rows, 2]], [labels, [rows], 'i32']], {
      loss: expected.loss,
      grad: within(expected.grad, { rtol: 1e-4, atol: 1e-9 }),
    });
    const square = device.tensor(logits.subarray(0, 9), [3, 3]);
    const view = square.transpose();
    const transposed = [0, 3, 6, 1, 4, 7, 2, 5, 8].map((i) => logits[i]!);
    await expectOp(device, (v, small) => crossEntropy(v, small), [view, [[0, 1, 2], [3], 'i32']], { loss: reference.crossEntropy(transposed, [0, 1, 2], 3).loss });
    for (const t of [square, view]) t.dispose();
  });
});

describe('bhattacharyya', () => {
  it.each(LENGTHS)('matches the reference on rows of length %i', async (cols) => {
    for (const rows of ROWS) {
      const tau = TAUS[(rows + cols) % TAUS.length]!;
      const v = normal(rows * cols, rows * 17 + cols, 2);
      const logQ = randomLogQ(rows, cols, rows * 19 + cols);
      await expectOp(device, (tv, tq) => bhattacharyya(tv, tq, { tau }), [[v, [rows, cols]], [logQ, [rows, cols]]], reference.bhattacharyya(v, logQ, cols, { tau }), reductionCheck(cols), {
        what: `${rows}x${cols} tau ${tau}`,
      });
    }
  });

  it.each(TAUS)('the reference gradient matches central differences (tau = %f)', (tau) => {
    const cols = 6;
    const rows = 3;
    const v = Float64Array.from(normal(rows * cols, 21, 1.5));
    const logQ = Float64Array.from(randomLogQ(rows, cols, 22));
    const scale = 0.5;
    const numeric = finiteDifferenceGradient((p) => scale * sum(reference.bhattacharyya(p, logQ, cols, { tau }).loss), v);
    expectClose(reference.bhattacharyya(v, logQ, cols, { tau, scale }).grad, numeric, { rtol: 1e-6, atol: 1e-8 });
  });

  it('is zero with a zero gradient where pi = q, and positive elsewhere', async () => {
    const cols = 10;
    const v = normal(3 * cols, 23);
    const logQ = Float32Array.from(referenceLogSoftmax(v, cols, 2));
    const divergence = (tv: Tensor, tq: Tensor) => bhattacharyya(tv, tq, { tau: 2 });
    await expectOp(device, divergence, [[v, [3, cols]], [logQ, [3, cols]]], { loss: [0, 0, 0], grad: within(new Float64Array(3 * cols), { rtol: 0, atol: 1e-7 }) }, { rtol: 0, atol: 1e-6 });
    const apart = await runOp(device, divergence, [[v, [3, cols]], [randomLogQ(3, cols, 24), [3, cols]]]);
    expect(Array.from(apart.loss.values).every((d) => d > 0)).toBe(true);
  });

  it('stays finite and exact with a nearly one-hot q (log q = -80) and large logits', async () => {
    const cols = 10;
    const rows = 3;
    const logQ = new Float32Array(rows * cols).fill(-80);
    // Row r puts its mass on class r; v ranges from ordinary to 1e4 and agrees or disagrees.
    for (let r = 0; r < rows; r++) logQ[r * cols + r] = 0;
    const v = normal(rows * cols, 25, 2);
    v[0] = 30; // agrees with q
    v[cols + 5] = 1e4; // disagrees, saturated
    v[2 * cols + 2] = 1e4; // agrees, saturated
    for (const tau of TAUS) {
      const { loss, grad } = await runOp(device, (tv, tq) => bhattacharyya(tv, tq, { tau }), [[v, [rows, cols]], [logQ, [rows, cols]]]);
      expect(Array.from(loss.values).every(Number.isFinite), `loss finite at tau ${tau}`).toBe(true);
      expect(Array.from(grad.values).every(Number.isFinite), `grad finite at tau ${tau}`).toBe(true);
      const expected = reference.bhattacharyya(v, logQ, cols, { tau });
      expectClose(loss.values, expected.loss, { rtol: 1e-4, atol: 1e-4 }, `loss at tau ${tau}`);
      expectClose(grad.values, expected.grad, { rtol: 1e-4, atol: 1e-6 }, `grad at tau ${tau}`);
    }
  });
});

describe('sllClassLoss', () => {
  it.each([
    [1, 10],
    [17, 10],
    [127, 129],
    [3, 1000],
  ])('equals crossEntropy + bhattacharyya on [%i, %i]', async (rows, cols) => {
    const tau = 2;
    const v = normal(rows * cols, rows + cols, 2);
    const labels = randomLabels(rows, cols, rows * cols);
    const logQ = randomLogQ(rows, cols, rows - cols);
    const operands = [[v, [rows, cols]], [labels, [rows], 'i32'], [logQ, [rows, cols]]] as const;
    await expectOp(device, (tv, ty, tq) => sllClassLoss(tv, ty, tq, { tau }), operands, reference.sllClassLoss(v, labels, logQ, cols, { tau }), reductionCheck(cols));
  });

  it('the reference gradient matches central differences of the summed loss', () => {
    const cols = 5;
    const v = Float64Array.from(normal(2 * cols, 31));
    const labels = [4, 1];
    const logQ = Float64Array.from(randomLogQ(2, cols, 32));
    const total = (p: Float64Array) => {
      const r = reference.sllClassLoss(p, labels, logQ, cols, { tau: 3 });
      return (sum(r.likelihood) + sum(r.alignment)) / 2;
    };
    const numeric = finiteDifferenceGradient(total, v);
    expectClose(reference.sllClassLoss(v, labels, logQ, cols, { tau: 3 }).grad, numeric, { rtol: 1e-6, atol: 1e-8 });
  });

  it('makes only the likelihood and gradient NaN for an out-of-range label', async () => {
    const cols = 4;
    const v = normal(2 * cols, 33);
    const logQ = randomLogQ(2, cols, 34);
    const fused = await runOp(device, (tv, ty, tq) => sllClassLoss(tv, ty, tq), [[v, [2, cols]], [[7, 0], [2], 'i32'], [logQ, [2, cols]]]);
    const [likelihood, grad] = [fused.likelihood.values, fused.grad.values];
    expect(Number.isNaN(likelihood[0])).toBe(true);
    expect(Array.from(grad.subarray(0, cols)).every(Number.isNaN)).toBe(true);
    expect(Array.from(grad.subarray(cols)).every(Number.isFinite)).toBe(true);
    expectClose(fused.alignment.values, reference.bhattacharyya(v, logQ, cols).loss);
  });
});

describe('bad input', () => {
  it('throws ShapeError before dispatch, naming the op and both shapes', () => {
    const logits = device.zeros([4, 10]);
    const labels = device.zeros([4], 'i32');
    const floatLabels = device.zeros([4]);
    const shortLabels = device.zeros([3], 'i32');
    const logQ = device.zeros([4, 9]);
    const flat = device.zeros([10]);
    const before = device.dispatchCount;
    expect(() => crossEntropy(logits, floatLabels)).toThrow(ShapeError);
    expect(() => crossEntropy(logits, floatLabels)).toThrow(/crossEntropy: labels \[4\] have dtype f32; expected i32 .* logits \[4, 10\]/);
    expect(() => crossEntropy(logits, shortLabels)).toThrow(/crossEntropy: labels \[3\] and logits \[4, 10\]: expected labels of shape \[4\]/);
    expect(() => crossEntropy(flat, labels)).toThrow(/crossEntropy: logits must be \[batch, classes\] .* got \[10\]/);
    expect(() => bhattacharyya(logits, logQ)).toThrow(ShapeError);
    expect(() => bhattacharyya(logits, logQ)).toThrow(/bhattacharyya: logQ \[4, 9\] and v \[4, 10\] must have the same shape/);
    expect(() => bhattacharyya(logits, labels)).toThrow(/bhattacharyya: logQ \[4\] has dtype i32/);
    expect(() => sllClassLoss(logits, shortLabels, logits)).toThrow(/sllClassLoss: labels \[3\] and v \[4, 10\]/);
    expect(() => sllClassLoss(logits, labels, logQ)).toThrow(/sllClassLoss: logQ \[4, 9\] and v \[4, 10\]/);
    expect(() => bhattacharyya(logits, logits, { tau: 0 })).toThrow(RangeError);
    expect(device.dispatchCount).toBe(before);
    for (const t of [logits, labels, floatLabels, shortLabels, logQ, flat]) t.dispose();
  });
});
