/**
 * PredSim, local error signals: its loss and hand-written gradients (the prediction head, the
 * similarity map P, and the block's features) against a float64 reference and central finite
 * differences, and the structural fact that places beta: at beta = 0 a PredSim step is exactly
 * a DGL step with the same linear head (the authors' code weighs the prediction loss by 1 - beta).
 */
import { describe, expect, it } from 'vitest';
import { DglHead, mlp, PredSimLoss, Trainer } from '../src/sll/index.js';
import { testDevice } from './helpers/device.js';
import { expectClose, finiteDifferenceGradient, uniform } from './helpers/numeric.js';

const device = await testDevice();

/** S(x) of the rows of x [rows, cols] in float64: centred, divided by (norm + 1e-8), their Gram matrix. */
function similarity(x: Float64Array, rows: number, cols: number): Float64Array {
  const unit = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    let mean = 0;
    for (let j = 0; j < cols; j++) mean += x[i * cols + j]! / cols;
    let norm = 0;
    for (let j = 0; j < cols; j++) norm += (x[i * cols + j]! - mean) ** 2;
    norm = Math.sqrt(norm) + 1e-8;
    for (let j = 0; j < cols; j++) unit[i * cols + j] = (x[i * cols + j]! - mean) / norm;
  }
  const s = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < rows; k++) {
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += unit[i * cols + j]! * unit[k * cols + j]!;
      s[i * rows + k] = dot;
    }
  }
  return s;
}

interface Case {
  batch: number;
  d: number;
  classes: number;
  labels: number[];
  beta: number;
}

/** (1 - beta) mean CE(u W^T + b, y) + beta mean (S(u P^T) - S(onehot y))^2, in float64. */
function referenceLoss(c: Case, u: Float64Array, W: Float64Array, bias: Float64Array, P: Float64Array): number {
  const { batch, d, classes, labels, beta } = c;
  let ce = 0;
  for (let r = 0; r < batch; r++) {
    const z = Float64Array.from({ length: classes }, (_, k) => {
      let acc = bias[k]!;
      for (let j = 0; j < d; j++) acc += u[r * d + j]! * W[k * d + j]!;
      return acc;
    });
    const m = Math.max(...z);
    ce += m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) - z[labels[r]!]!;
  }
  const projected = new Float64Array(batch * d);
  for (let r = 0; r < batch; r++) {
    for (let a = 0; a < d; a++) {
      let acc = 0;
      for (let j = 0; j < d; j++) acc += u[r * d + j]! * P[a * d + j]!;
      projected[r * d + a] = acc;
    }
  }
  const onehot = new Float64Array(batch * classes);
  labels.forEach((y, r) => (onehot[r * classes + y] = 1));
  const s = similarity(projected, batch, d);
  const t = similarity(onehot, batch, classes);
  let mse = 0;
  for (let i = 0; i < s.length; i++) mse += (s[i]! - t[i]!) ** 2 / s.length;
  return ((1 - beta) * ce) / batch + beta * mse;
}

const read = async (t: { read(): Promise<ArrayLike<number>> }) => Float64Array.from(await t.read());

describe("PredSim's loss and its analytic gradient", () => {
  const cases: Array<[string, Case]> = [
    ['batch 4, 5 features, 3 classes, beta 0.99', { batch: 4, d: 5, classes: 3, labels: [0, 2, 1, 2], beta: 0.99 }],
    ['batch 6, 9 features, 4 classes, beta 0.5', { batch: 6, d: 9, classes: 4, labels: [3, 0, 0, 1, 2, 3], beta: 0.5 }],
    ['batch 1, 3 features, 2 classes, beta 0.99', { batch: 1, d: 3, classes: 2, labels: [1], beta: 0.99 }],
    ['batch 5, 4 features, 3 classes, beta 1 (similarity alone)', { batch: 5, d: 4, classes: 3, labels: [1, 1, 0, 2, 0], beta: 1 }],
  ];
  it.each(cases)('%s: loss, dL/du, dL/dW, dL/db and dL/dP match float64 finite differences', async (_, c) => {
    const { batch, d, classes, labels, beta } = c;
    const rule = new PredSimLoss(device, { classes, features: d, beta, seed: [5, 6], label: 'block 1' });
    // The head starts at zero, as the authors' does; a random one exercises its gradient's every term.
    expect(Array.from(await rule.weight.read()).every((v) => v === 0)).toBe(true);
    device.upload(rule.weight, uniform(classes * d, 7, -1, 1));
    const uData = uniform(batch * d, 8, -2, 2);
    const [W, b, P] = await Promise.all([read(rule.weight), read(rule.bias), read(rule.similarityWeight)]);
    const u64 = Float64Array.from(uData);
    const u = device.tensor(uData, [batch, d]);
    const y = device.tensor(labels, [batch], 'i32');
    const result = rule.compute(u, y, undefined, true);
    // The reported likelihood is the prediction's per-row cross-entropy, unweighted.
    const ce = Array.from(await result.likelihood!.read()).reduce((s, v) => s + v, 0) / batch;
    expect(ce).toBeCloseTo(referenceLoss({ ...c, beta: 0 }, u64, W, b, P), 5);
    const tolerance = { rtol: 2e-3, atol: 2e-5 };
    const loss = (uu: Float64Array, WW: Float64Array, bb: Float64Array, PP: Float64Array) => referenceLoss(c, uu, WW, bb, PP);
    expectClose(await result.gradFeatures!.read(), finiteDifferenceGradient((p) => loss(p, W, b, P), u64), tolerance, 'dL/du');
    expectClose(await result.headGradients[0]!.read(), finiteDifferenceGradient((p) => loss(u64, p, b, P), W), tolerance, 'dL/dW');
    expectClose(await result.headGradients[1]!.read(), finiteDifferenceGradient((p) => loss(u64, W, p, P), b), tolerance, 'dL/db');
    expectClose(await result.headGradients[2]!.read(), finiteDifferenceGradient((p) => loss(u64, W, b, p), P), tolerance, 'dL/dP');
    // The similarity term does move P (but for one row, whose similarity is 1 whatever P is).
    if (batch > 1 && beta > 0) expect(Math.max(...Array.from(await result.headGradients[2]!.read(), Math.abs))).toBeGreaterThan(1e-6);
    const evaluation = rule.compute(u, y, undefined, false);
    expect(evaluation.gradFeatures).toBeUndefined();
    expect(evaluation.headGradients).toEqual([]);
    for (const t of [u, y, result.likelihood, result.logits, result.gradFeatures, ...result.headGradients, evaluation.likelihood, evaluation.logits]) t?.dispose();
    rule.dispose();
  });

  it('refuses a beta outside [0, 1] and features of the wrong width, naming the block', () => {
    expect(() => new PredSimLoss(device, { classes: 3, features: 4, beta: 1.01, seed: 1, label: 'block 2' })).toThrow(/^block 2 PredSim loss: beta must be in \[0, 1\], got 1\.01/);
    const rule = new PredSimLoss(device, { classes: 3, features: 4, seed: 1, label: 'block 2' });
    const u = device.tensor(new Float32Array(10), [2, 5]);
    const y = device.tensor([0, 1], [2], 'i32');
    expect(() => rule.compute(u, y, undefined, true)).toThrow(/^block 2 PredSim loss: features \[2, 5\] must be \[batch, 4\]/);
    for (const t of [u, y]) t.dispose();
    rule.dispose();
  });
});

describe('PredSim, structurally', () => {
  it('at beta 0 a PredSim step is bitwise a DGL step with the same linear head, and P never moves', async () => {
    const batch = 6;
    const images = device.tensor(uniform(batch * 5, 9, -1, 1), [batch, 5]);
    const labels = device.tensor([0, 1, 2, 0, 1, 2], [batch], 'i32');
    const build = () => mlp(device, { inputShape: [5], hidden: [4, 4], classes: 3, seed: 11 });
    const [forPredSim, forDgl] = [build(), build()];
    const config = { optimizer: { kind: 'sgd' as const, lr: 0.5 }, seed: 3 };
    const predsim = new Trainer(device, forPredSim, { ...config, method: 'predsim', predsim: { beta: 0 } });
    const dgl = new Trainer(device, forDgl, { ...config, method: 'dgl' });
    // The same heads on both sides: PredSim's (zero weight, its own bias) copied into DGL's.
    const rules = predsim.objectives as PredSimLoss[];
    const heads = dgl.objectives as DglHead[];
    for (let i = 0; i < rules.length; i++) {
      device.upload(heads[i]!.weight, await rules[i]!.weight.read());
      device.upload(heads[i]!.bias, await rules[i]!.bias.read());
    }
    const startP = await read(rules[1]!.similarityWeight);
    for (let step = 0; step < 3; step++) {
      predsim.trainStep(images, labels);
      dgl.trainStep(images, labels);
    }
    for (let i = 0; i < 2; i++) {
      const [pw, pb] = await Promise.all(forPredSim.blocks[i]!.layers.parameters().map((p) => read(p.value)));
      const [dw, db] = await Promise.all(forDgl.blocks[i]!.layers.parameters().map((p) => read(p.value)));
      expect(Array.from(pw!), `block ${i + 1} weight`).toEqual(Array.from(dw!));
      expect(Array.from(pb!), `block ${i + 1} bias`).toEqual(Array.from(db!));
      expect(Array.from(await read(rules[i]!.weight)), `block ${i + 1} head weight`).toEqual(Array.from(await read(heads[i]!.weight)));
    }
    expect(Array.from(await read(rules[1]!.similarityWeight))).toEqual(Array.from(startP));
    // And the weights did move: the comparison is not of two untouched networks.
    const initial = build();
    const [start, now] = [await read(initial.blocks[1]!.layers.parameters()[0]!.value), await read(forPredSim.blocks[1]!.layers.parameters()[0]!.value)];
    expect(Math.max(...now.map((v, i) => Math.abs(v - start[i]!)))).toBeGreaterThan(1e-3);
    for (const o of [images, labels, predsim, dgl, forPredSim, forDgl, initial]) o.dispose();
  });

  it('at beta 0.99 the similarity term changes the step: the blocks move otherwise than at beta 0', async () => {
    const batch = 6;
    const images = device.tensor(uniform(batch * 5, 9, -1, 1), [batch, 5]);
    const labels = device.tensor([0, 1, 2, 0, 1, 2], [batch], 'i32');
    const after = async (beta: number) => {
      const model = mlp(device, { inputShape: [5], hidden: [4], classes: 3, seed: 11 });
      const trainer = new Trainer(device, model, { optimizer: { kind: 'sgd', lr: 0.5 }, seed: 3, method: 'predsim', predsim: { beta } });
      trainer.trainStep(images, labels);
      const w = await read(model.blocks[0]!.layers.parameters()[0]!.value);
      trainer.dispose();
      model.dispose();
      return w;
    };
    const [prediction, mixed] = [await after(0), await after(0.99)];
    expect(Math.max(...mixed.map((v, i) => Math.abs(v - prediction[i]!)))).toBeGreaterThan(1e-4);
    for (const t of [images, labels]) t.dispose();
  });
});
