import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from '../src/ops/softmax.js';
import * as reference from '../src/reference/softmax.js';
import { testDevice } from './helpers/device.js';
import { dot, expectClose, finiteDifferenceGradient, lossWeights, normal, reductionCheck, uniform } from './helpers/numeric.js';
import { expectOp, runOp, within } from './helpers/ops.js';

const device = await testDevice();

const ROWS = [1, 3, 17, 127];
const LENGTHS = [1, 3, 10, 17, 63, 65, 127, 129, 1000, 4097];

describe('softmax and logSoftmax forward', () => {
  it('kernels build', async () => {
    for (const entry of ['softmaxForward', 'softmaxBackward', 'logSoftmaxBackward']) {
      await device.prepareKernel({ file: 'softmax', entry, overrides: { WG: 64 } });
    }
  });

  it.each(LENGTHS)('rows of length %i', async (cols) => {
    for (const rows of ROWS) {
      // Logits of scale 3, so that the max subtraction and the normalizer matter.
      const x = normal(rows * cols, rows * 1009 + cols, 3);
      const tau = rows % 2 === 1 ? 1 : 0.5;
      await expectOp(
        device,
        (t) => ({ softmax: softmax(t, { temperature: tau }), logSoftmax: logSoftmax(t, { temperature: tau }) }),
        [[x, [rows, cols]]],
        { softmax: reference.softmax(x, cols, tau), logSoftmax: reference.logSoftmax(x, cols, tau) },
        reductionCheck(cols),
        { what: `${rows}x${cols}` },
      );
    }
  });

  it.each([0.25, 2, 7])('applies temperature %f as softmax(x / tau)', async (tau) => {
    const x = normal(3 * 10, 3);
    const plain = await runOp(device, (scaled) => softmax(scaled), [[x.map((v) => v / tau), [3, 10]]]);
    const p = await expectOp(device, (t) => softmax(t, { temperature: tau }), [[x, [3, 10]]], reference.softmax(x, 10, tau));
    expectClose(p.values, plain.values, { rtol: 1e-5, atol: 1e-7 });
  });

  it('stays finite on logits of 1e4 (the row max is subtracted)', async () => {
    const x = [1e4, 1e4 - 1, -1e4, 0, 1e4, 9990, -5, 3];
    const { p } = await expectOp(
      device,
      (t) => ({ p: softmax(t), lp: logSoftmax(t) }),
      [[x, [2, 4]]],
      { p: reference.softmax(x, 4), lp: within(reference.logSoftmax(x, 4), { rtol: 1e-5, atol: 1e-5 }) },
      { rtol: 1e-5, atol: 1e-7 },
    );
    expect(p.values.every(Number.isFinite)).toBe(true);
  });

  it('works on rank 1 and rank 3, on strided views, and on more rows than one grid dimension holds', async () => {
    const x = uniform(3 * 5 * 7, 4);
    await expectOp(device, (t) => softmax(t), [[x, [3, 5, 7]]], reference.softmax(x, 7));
    await expectOp(device, (flat) => softmax(flat), [[x.subarray(0, 7), [7]]], reference.softmax(x.subarray(0, 7), 7));
    const square = device.tensor(x.subarray(0, 49), [7, 7]);
    const view = square.transpose();
    const transposed = Float64Array.from({ length: 49 }, (_, i) => x[(i % 7) * 7 + Math.floor(i / 7)]!);
    await expectOp(device, (v) => softmax(v), [view], reference.softmax(transposed, 7));
    const many = uniform(70_000 * 2, 5);
    await expectOp(device, (tm) => logSoftmax(tm), [[many, [70_000, 2]]], reference.logSoftmax(many, 2));
    for (const u of [square, view]) u.dispose();
  });
});

describe('softmax derivative rules', () => {
  it.each([1, 0.5, 3])('the reference rules match central differences (tau = %f)', (tau) => {
    const cols = 7;
    const x = Float64Array.from(normal(3 * cols, 11));
    const w = lossWeights(3 * cols, 12);
    const numericSoftmax = finiteDifferenceGradient((p) => dot(reference.softmax(p, cols, tau), w), x);
    expectClose(reference.softmaxBackward(w, reference.softmax(x, cols, tau), cols, tau), numericSoftmax, { rtol: 1e-6, atol: 1e-8 });
    const numericLog = finiteDifferenceGradient((p) => dot(reference.logSoftmax(p, cols, tau), w), x);
    expectClose(reference.logSoftmaxBackward(w, reference.logSoftmax(x, cols, tau), cols, tau), numericLog, { rtol: 1e-6, atol: 1e-8 });
  });

  it.each(LENGTHS)('the GPU rules match the reference on rows of length %i', async (cols) => {
    for (const rows of ROWS) {
      const tau = (cols + rows) % 2 === 1 ? 1 : 2;
      const x = normal(rows * cols, cols + rows, 2);
      const y = Float32Array.from(reference.softmax(x, cols, tau));
      const logY = Float32Array.from(reference.logSoftmax(x, cols, tau));
      const dy = uniform(rows * cols, cols * 3 + rows);
      await expectOp(
        device,
        (ty, tlogY, tdy) => ({
          softmaxBackward: softmaxBackward(tdy, ty, { temperature: tau }),
          logSoftmaxBackward: logSoftmaxBackward(tdy, tlogY, { temperature: tau }),
        }),
        [[y, [rows, cols]], [logY, [rows, cols]], [dy, [rows, cols]]],
        { softmaxBackward: reference.softmaxBackward(dy, y, cols, tau), logSoftmaxBackward: reference.logSoftmaxBackward(dy, logY, cols, tau) },
        reductionCheck(cols),
        { what: `${rows}x${cols}` },
      );
    }
  });
});

describe('bad input', () => {
  it('throws ShapeError before dispatch, naming the op and shapes', () => {
    const x = device.zeros([3, 4]);
    const other = device.zeros([3, 5]);
    const ints = device.zeros([3, 4], 'i32');
    const scalar = device.zeros([]);
    const before = device.dispatchCount;
    expect(() => softmax(ints)).toThrow(ShapeError);
    expect(() => softmax(ints)).toThrow(/softmax: x has dtype i32 \(shape \[3, 4\]\)/);
    expect(() => logSoftmax(scalar)).toThrow(/logSoftmax: x \[\] has no last axis/);
    expect(() => softmaxBackward(other, x)).toThrow(ShapeError);
    expect(() => softmaxBackward(other, x)).toThrow(/softmaxBackward: dy \[3, 5\] and y \[3, 4\] must have the same shape/);
    expect(() => logSoftmaxBackward(x, ints)).toThrow(/logSoftmaxBackward: y has dtype i32/);
    expect(() => softmax(x, { temperature: 0 })).toThrow(RangeError);
    expect(() => softmax(x, { temperature: -1 })).toThrow(/softmax: temperature must be a positive finite number, got -1/);
    expect(device.dispatchCount).toBe(before);
    for (const u of [x, other, ints, scalar]) u.dispose();
  });
});
