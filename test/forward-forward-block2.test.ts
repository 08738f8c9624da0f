/**
 * Forward-Forward's second block, through the trainer (src/sll/trainer.ts, localStep): one plain
 * SGD step of a 2-block MLP moves block 2's weight and bias by exactly -lr times the gradient of
 * block 2's own logistic goodness loss, taken in float64 by central differences, where block 2's
 * input is block 1's output (with block 1's weights before the step) for the positive and the
 * negative images, each row divided by its root mean square (+1e-8). Block 1 is held to the same
 * check on its own normalised input, and each block's logged loss to the float64 loss.
 * So the derivative rule of a deeper block is the one of its loss: its slow start
 * (docs/algorithm.md, Forward-Forward) is the recipe's, not a wrong update.
 */
import { describe, expect, it } from 'vitest';
import { mlp, Trainer } from '../src/sll/index.js';
import { matmul } from '../src/reference/matmul.js';
import { philox4x32, seedWords } from '../src/random/philox.js';
import { domainSeed } from '../src/random/seeds.js';
import { testDevice } from './helpers/device.js';
import { goodnessLoss, normalizeRows } from './helpers/forwardForward.js';
import { expectClose, finiteDifferenceGradient, uniform } from './helpers/numeric.js';

const device = await testDevice();

const read = async (t: { read(): Promise<ArrayLike<number>> }) => Float64Array.from(await t.read());

/** A fused linear + ReLU block on its length-normalised input x [rows, inWidth]: relu(norm(x) W^T + b), float64. */
function blockForward(x: Float64Array, rows: number, inWidth: number, W: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return matmul(normalizeRows(x, rows, inWidth), [rows, inWidth], W, [b.length, inWidth], { transposeB: true, bias: b, activation: 'relu' });
}

/** max |a - e| / max |e|: one number for a whole gradient. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

describe("Forward-Forward's second block, one trainer step", () => {
  it.each([
    ['weights as initialised (goodness below the threshold)', 1],
    ['block 2 weights times 1.6 (goodness around its threshold)', 1.6],
  ] as const)('%s: block 2 moves by -lr dL2/dW2 of its own loss on block 1\'s normalised output, by float64 central differences', async (_, block2Scale) => {
    const [batch, classes, inputShape, hidden] = [4, 3, [1, 4, 5], [6, 5]] as const;
    const width = 20;
    const [seed, lr] = [3, 1];
    const model = mlp(device, { inputShape: [...inputShape], hidden: [...hidden], classes, seed: 11 });
    if (block2Scale !== 1) {
      const w2 = model.blocks[1]!.layers.parameters()[0]!.value;
      device.upload(w2, Float32Array.from(await w2.read(), (v) => v * block2Scale));
    }
    const trainer = new Trainer(device, model, { method: 'ff', optimizer: { kind: 'sgd', lr }, seed, metricsEvery: 1, replay: false });
    const before = await Promise.all(model.blocks.map((b) => Promise.all(b.layers.parameters().map((p) => read(p.value)))));
    expect(before.map((ps) => ps.map((p) => p.length))).toEqual([
      [6 * 20, 6],
      [5 * 6, 5],
    ]);

    const pixels = uniform(batch * width, 21, 0, 1);
    const labelValues = Int32Array.from([0, 2, 1, 2]);
    const images = device.tensor(pixels, [batch, ...inputShape]);
    const labels = device.tensor(labelValues, [batch], 'i32');
    trainer.trainStep(images, labels);
    const metrics = await trainer.readMetrics();
    const after = await Promise.all(model.blocks.map((b) => Promise.all(b.layers.parameters().map((p) => read(p.value)))));

    // The step-0 batch [2B, 20] on the host: positive rows with their own label written over the
    // first K values, negative rows with the wrong label Philox draws at counter [0, row]
    // under the trainer's negative-label key (src/sll/forwardForward.ts, wrongRows).
    const key = seedWords(domainSeed(seed, 'negativeLabels', 0));
    const x0 = new Float64Array(2 * batch * width);
    for (let i = 0; i < batch; i++) {
      const wrong = (labelValues[i]! + 1 + (philox4x32([0, 0, i, 0], key)[0] % (classes - 1))) % classes;
      for (const [row, label] of [
        [i, labelValues[i]!],
        [batch + i, wrong],
      ] as const) {
        for (let j = 0; j < width; j++) x0[row * width + j] = j < classes ? (j === label ? 1 : 0) : pixels[i * width + j]!;
      }
    }
    const rows = 2 * batch;
    const [[W1, b1], [W2, b2]] = before as [[Float64Array, Float64Array], [Float64Array, Float64Array]];
    // Block 2's actual input: block 1's output with block 1's weights before the step.
    const h1 = blockForward(x0, rows, width, W1, b1);
    const loss1 = (W: Float64Array, b: Float64Array) => goodnessLoss(blockForward(x0, rows, width, W, b), rows, hidden[0]);
    const loss2 = (W: Float64Array, b: Float64Array) => goodnessLoss(blockForward(h1, rows, hidden[0], W, b), rows, hidden[1]);

    // Every row of block 1 is alive, and the loss is not flat (so the check is not vacuous).
    for (let r = 0; r < rows; r++) expect(h1.subarray(r * hidden[0], (r + 1) * hidden[0]).some((v) => v > 0), `block 1 row ${r}`).toBe(true);

    const checks = [
      { block: 1, loss: loss1, W: W1, b: b1 },
      { block: 2, loss: loss2, W: W2, b: b2 },
    ];
    const errors: string[] = [];
    for (const { block, loss, W, b } of checks) {
      const [Wafter, bAfter] = after[block - 1]!;
      // Plain SGD (no momentum, no decay): the update is -lr times the gradient the trainer computed.
      const stepW = Float64Array.from(Wafter!, (v, i) => (W[i]! - v) / lr);
      const stepB = Float64Array.from(bAfter!, (v, i) => (b[i]! - v) / lr);
      const fdW = finiteDifferenceGradient((p) => loss(p, b), W);
      const fdB = finiteDifferenceGradient((p) => loss(W, p), b);
      errors.push(`block ${block}: dW rel err ${relativeError(stepW, fdW).toExponential(2)} (max |g| ${Math.max(...fdW.map(Math.abs)).toExponential(2)}), db rel err ${relativeError(stepB, fdB).toExponential(2)}`);
      expectClose(stepW, fdW, { rtol: 1e-3, atol: 1e-5 }, `block ${block}: weight step vs -lr dL/dW`);
      expectClose(stepB, fdB, { rtol: 1e-3, atol: 1e-5 }, `block ${block}: bias step vs -lr dL/db`);
      expect(relativeError(stepW, fdW)).toBeLessThan(1e-3);
      expect(relativeError(stepB, fdB)).toBeLessThan(1e-3);
      // The gradient is not zero: the step moves the block.
      expect(Math.max(...fdW.map(Math.abs))).toBeGreaterThan(1e-3);
      // Its logged loss is each pair's (positive plus negative row): twice the rows' mean.
      const unit = metrics.units.find((u) => u.name === `block ${block}`)!;
      expect(unit.likelihood).toBeCloseTo(2 * loss(W, b), 4);
    }
    // The check tells the candidate mistakes apart: block 2's step is far from the gradient it
    // would have without the normalisation between the blocks, or on block 1's output after block
    // 1's own update.
    const stepW2 = Float64Array.from(after[1]![0]!, (v, i) => (W2[i]! - v) / lr);
    const unnormalised = finiteDifferenceGradient((p) => goodnessLoss(matmul(h1, [rows, hidden[0]], p, [hidden[1], hidden[0]], { transposeB: true, bias: b2, activation: 'relu' }), rows, hidden[1]), W2);
    const h1After = blockForward(x0, rows, width, after[0]![0]!, after[0]![1]!);
    const afterBlock1 = finiteDifferenceGradient((p) => goodnessLoss(blockForward(h1After, rows, hidden[0], p, b2), rows, hidden[1]), W2);
    const alternatives = [relativeError(stepW2, unnormalised), relativeError(stepW2, afterBlock1)];
    errors.push(`alternatives' rel err: unnormalised ${alternatives[0]!.toExponential(2)}, after block 1's update ${alternatives[1]!.toExponential(2)}`);
    for (const e of alternatives) expect(e).toBeGreaterThan(1e-2);
    const g2 = (() => {
      const h2 = blockForward(h1, rows, hidden[0], W2, b2);
      return Array.from({ length: rows }, (_, r) => h2.subarray(r * hidden[1], (r + 1) * hidden[1]).reduce((s, v) => s + v * v, 0));
    })();
    console.log(`forward-forward block 2 check (scale ${block2Scale}): ${errors.join('; ')}; block 2 goodness pos ${g2.slice(0, batch).map((v) => v.toFixed(2)).join(',')} neg ${g2.slice(batch).map((v) => v.toFixed(2)).join(',')} (theta ${hidden[1]})`);

    for (const t of [images, labels]) t.dispose();
    trainer.dispose();
    model.dispose();
  });
});
