import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from '../src/ops/softmax.js';
import * as reference from '../src/reference/softmax.js';
import { testDevice } from './helpers/device.js';
import { dot, expectClose, expectNormalizedClose, finiteDifferenceGradient, lossWeights, normal, uniform } from './helpers/numeric.js';

const device = await testDevice();

const ROWS = [1, 3, 17, 127];
const LENGTHS = [1, 3, 10, 17, 63, 65, 127, 129, 1000, 4097];

/** The tolerance rule (docs/architecture.md, "Kernels and their tests"): elementwise up to 256 terms per row, normalized squared error beyond. */
function expectRows(actual: ArrayLike<number>, expected: ArrayLike<number>, cols: number, what: string): void {
  if (cols <= 256) expectClose(actual, expected, { rtol: 1e-4, atol: 1e-5 }, what);
  else expectNormalizedClose(actual, expected, 1e-7, what);
}

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
      const t = device.tensor(x, [rows, cols]);
      const p = softmax(t, { temperature: tau });
      const lp = logSoftmax(t, { temperature: tau });
      expectRows(await p.read(), reference.softmax(x, cols, tau), cols, `softmax ${rows}x${cols}`);
      expectRows(await lp.read(), reference.logSoftmax(x, cols, tau), cols, `logSoftmax ${rows}x${cols}`);
      for (const u of [t, p, lp]) u.dispose();
    }
  });

  it.each([0.25, 2, 7])('applies temperature %f as softmax(x / tau)', async (tau) => {
    const x = normal(3 * 10, 3);
    const t = device.tensor(x, [3, 10]);
    const p = softmax(t, { temperature: tau });
    const scaled = device.tensor(x.map((v) => v / tau), [3, 10]);
    const plain = softmax(scaled);
    expectClose(await p.read(), reference.softmax(x, 10, tau));
    expectClose(await p.read(), await plain.read(), { rtol: 1e-5, atol: 1e-7 });
    for (const u of [t, p, scaled, plain]) u.dispose();
  });

  it('stays finite on logits of 1e4 (the row max is subtracted)', async () => {
    const x = [1e4, 1e4 - 1, -1e4, 0, 1e4, 9990, -5, 3];
    const t = device.tensor(x, [2, 4]);
    const p = softmax(t);
    const lp = logSoftmax(t);
    const pv = await p.read();
    expect(pv.every(Number.isFinite)).toBe(true);
    expectClose(pv, reference.softmax(x, 4), { rtol: 1e-5, atol: 1e-7 });
    expectClose(await lp.read(), reference.logSoftmax(x, 4), { rtol: 1e-5, atol: 1e-5 });
    for (const u of [t, p, lp]) u.dispose();
  });

  it('works on rank 1 and rank 3, on strided views, and on more rows than one grid dimension holds', async () => {
    const x = uniform(3 * 5 * 7, 4);
    const t = device.tensor(x, [3, 5, 7]);
    const p = softmax(t);
    expectClose(await p.read(), reference.softmax(x, 7));
    const flat = device.tensor(x.subarray(0, 7));
    const p1 = softmax(flat);
    expectClose(await p1.read(), reference.softmax(x.subarray(0, 7), 7));
    const square = device.tensor(x.subarray(0, 49), [7, 7]);
    const view = square.transpose();
    const pv = softmax(view);
    const transposed = Float64Array.from({ length: 49 }, (_, i) => x[(i % 7) * 7 + Math.floor(i / 7)]!);
    expectClose(await pv.read(), reference.softmax(transposed, 7));
    const many = uniform(70_000 * 2, 5);
    const tm = device.tensor(many, [70_000, 2]);
    const pm = logSoftmax(tm);
    expectClose(await pm.read(), reference.logSoftmax(many, 2));
    for (const u of [t, p, flat, p1, square, view, pv, tm, pm]) u.dispose();
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
      const ty = device.tensor(y, [rows, cols]);
      const tlogY = device.tensor(logY, [rows, cols]);
      const tdy = device.tensor(dy, [rows, cols]);
      const dx = softmaxBackward(tdy, ty, { temperature: tau });
      const dxLog = logSoftmaxBackward(tdy, tlogY, { temperature: tau });
      expectRows(await dx.read(), reference.softmaxBackward(dy, y, cols, tau), cols, `softmaxBackward ${rows}x${cols}`);
      expectRows(await dxLog.read(), reference.logSoftmaxBackward(dy, logY, cols, tau), cols, `logSoftmaxBackward ${rows}x${cols}`);
      for (const u of [ty, tlogY, tdy, dx, dxLog]) u.dispose();
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
