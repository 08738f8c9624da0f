/**
 * PredSim, local error signals: its loss and hand-written gradients (the prediction head, the
 * similarity map P, and the block's features) against a float64 reference and central finite
 * differences, and the structural fact that places beta: at beta = 0 a PredSim step is exactly
 * a DGL step with the same linear head (the authors' code weighs the prediction loss by 1 - beta).
 * The conv form (a conv stage's maps) the same way: its pooling, its channel spreads and its
 * whole loss against float64 references.
 */
import { describe, expect, it } from 'vitest';
import { ChannelSpread } from '../src/nn/channelSpread.js';
import { conv2d } from '../src/reference/conv.js';
import { avgPool2d } from '../src/reference/pool2d.js';
import { crossEntropy } from '../src/reference/loss.js';
import { matmul } from '../src/reference/matmul.js';
import { cnn, DglHead, mlp, PredSimConvLoss, PredSimLoss, predictionPooling, Trainer, vit } from '../src/sll/index.js';
import { checkLayer } from './helpers/gradcheck.js';
import { testDevice } from './helpers/device.js';
import { expectClose, rng, finiteDifferenceGradient, uniform } from './helpers/numeric.js';

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

/** Each channel's unbiased standard deviation over its positions, [N, C, H, W] -> [N, C], in float64. */
function channelSpread(x: Float64Array, [n, c, h, w]: readonly number[]): Float64Array {
  const positions = h! * w!;
  return Float64Array.from({ length: n! * c! }, (_, plane) => {
    let mean = 0;
    for (let p = 0; p < positions; p++) mean += x[plane * positions + p]! / positions;
    let squares = 0;
    for (let p = 0; p < positions; p++) squares += (x[plane * positions + p]! - mean) ** 2;
    return Math.sqrt(squares / (positions - 1));
  });
}

interface ConvCase {
  shape: [number, number, number, number];
  classes: number;
  labels: number[];
  beta: number;
}

/** The conv form in float64 (predsimConv.ts): params [head W, head b, conv weight]. */
function convReferenceLoss(c: ConvCase, u: Float64Array, [W, b, K]: Float64Array[]): number {
  const { shape, classes, labels, beta } = c;
  const [batch, channels, height, width] = shape;
  const pooling = predictionPooling(channels, height, width);
  const pooled = pooling ? avgPool2d(u, shape, { kernel: pooling.kernel, stride: pooling.kernel, padding: pooling.padding }) : u;
  const inWidth = pooled.length / batch;
  const logits = matmul(pooled, [batch, inWidth], W!, [classes, inWidth], { transposeB: true, bias: b! });
  const ce = crossEntropy(logits, labels, classes).loss.reduce((sum, v) => sum + v, 0);
  const conv = conv2d(u, shape, K!, [channels, channels, 3, 3], { padding: [1, 1] });
  const features = channels > 3 && height > 1 ? channelSpread(conv, shape) : conv;
  const onehot = new Float64Array(batch * classes);
  labels.forEach((y, r) => (onehot[r * classes + y] = 1));
  const sim = similarity(features, batch, features.length / batch);
  const target = similarity(onehot, batch, classes);
  let mse = 0;
  for (let i = 0; i < sim.length; i++) mse += (sim[i]! - target[i]!) ** 2 / sim.length;
  return ((1 - beta) * ce) / batch + beta * mse;
}

/** Central differences of f at `count` seeded positions of x (a large x's sample), next to the analytic values there. */
function sampledDifferences(f: (x: Float64Array) => number, x: Float64Array, analytic: ArrayLike<number>, count: number, seed: number): { numeric: number[]; analytic: number[] } {
  const next = rng(seed);
  const picks = count >= x.length ? Array.from(x, (_, i) => i) : Array.from({ length: count }, () => Math.floor(next() * x.length));
  const numeric = picks.map((i) => {
    const eps = 1e-6 * Math.max(1, Math.abs(x[i]!));
    const up = Float64Array.from(x);
    const down = Float64Array.from(x);
    up[i]! += eps;
    down[i]! -= eps;
    return (f(up) - f(down)) / (2 * eps);
  });
  return { numeric, analytic: picks.map((i) => analytic[i]!) };
}

describe("PredSim's conv form", () => {
  it("takes a conv stage's maps in the conv form, and rows (a pooled stage, the fully connected block, a ViT's token) in the row form", () => {
    const forms = (model: ReturnType<typeof cnn> | ReturnType<typeof vit>) => {
      const trainer = new Trainer(device, model, { method: 'predsim', optimizer: { kind: 'adam', lr: 1e-3 }, seed: 1 });
      const kinds = trainer.objectives.map((o) => (o instanceof PredSimConvLoss ? 'conv' : o instanceof PredSimLoss ? 'rows' : 'other'));
      trainer.dispose();
      model.dispose();
      return kinds;
    };
    expect(forms(cnn(device, { inputShape: [1, 8, 8], classes: 3, seed: 1, channels: [4, 4], hidden: 8 }))).toEqual(['conv', 'conv', 'rows']);
    expect(forms(cnn(device, { inputShape: [1, 8, 8], classes: 3, seed: 1, channels: [4, 4], hidden: 8, stageFeatures: 'gap' }))).toEqual(['rows', 'rows', 'rows']);
    expect(forms(vit(device, { inputShape: [1, 8, 8], classes: 3, seed: 1, patch: 4, dim: 8, depth: 2, heads: 2 }))).toEqual(['rows', 'rows']);
  });

  it("pools before the prediction head as the authors' code does: to at most 2048 features, rows halved first", () => {
    // The CNN's stages on 28x28 images: 32x14x14 (6272) -> 32x7x7; 64x7x7 (3136) -> 64x4x7, rows padded by one.
    expect(predictionPooling(32, 14, 14)).toEqual({ kernel: [2, 2], padding: [0, 0] });
    expect(predictionPooling(64, 7, 7)).toEqual({ kernel: [2, 1], padding: [1, 0] });
    expect(predictionPooling(8, 17, 17)).toEqual({ kernel: [2, 1], padding: [1, 0] });
    expect(predictionPooling(4, 5, 5)).toBeUndefined();
  });

  it.each([[[2, 5, 3, 4]], [[3, 2, 1, 5]]] as const)('the channel spread of %j: forward against float64, dL/dx against central differences', async (shape) => {
    const layer = new ChannelSpread();
    await checkLayer(device, layer, [...shape], (x) => channelSpread(x, shape));
    layer.dispose();
  });

  const cases: Array<[string, ConvCase]> = [
    ['batch 4, 4x5x5 maps (channel spreads), 3 classes, beta 0.9', { shape: [4, 4, 5, 5], classes: 3, labels: [0, 2, 1, 2], beta: 0.9 }],
    ['batch 3, 2x4x4 maps (read flat: 3 channels or fewer), 4 classes, beta 0.99', { shape: [3, 2, 4, 4], classes: 4, labels: [3, 0, 3], beta: 0.99 }],
    ['batch 2, 8x17x17 maps (pooled 2x1 before the head), 3 classes, beta 0.5', { shape: [2, 8, 17, 17], classes: 3, labels: [1, 0], beta: 0.5 }],
  ];
  it.each(cases)('%s: loss and every gradient against float64 central differences', async (_, c) => {
    const [batch, channels, height, width] = c.shape;
    const features = channels * height * width;
    const rule = new PredSimConvLoss(device, { classes: c.classes, blockShape: [channels, height, width], beta: c.beta, seed: [3, 4], label: 'block 1' });
    const params = rule.parameters();
    // The head's linear layer comes after the flatten, and after the pooling when there is one.
    const head = predictionPooling(channels, height, width) ? 2 : 1;
    expect(params.map((p) => p.name)).toEqual([`head.${head}.weight`, `head.${head}.bias`, 'similarity.0.weight']);
    // The head starts at zero, as the authors' does; a random one exercises every term of the rule.
    expect(Array.from(await params[0]!.value.read()).every((v) => v === 0)).toBe(true);
    device.upload(params[0]!.value, uniform(params[0]!.value.size, 7, -0.2, 0.2));
    const values = await Promise.all(params.map(async (p) => Float64Array.from(await p.value.read())));
    const uData = uniform(batch * features, 8, -2, 2);
    const u64 = Float64Array.from(uData);
    const u = device.tensor(uData, [batch, features]);
    const y = device.tensor(c.labels, [batch], 'i32');
    const result = rule.compute(u, y, undefined, true);
    const ce = Array.from(await result.likelihood!.read()).reduce((sum, v) => sum + v, 0) / batch;
    expect(ce).toBeCloseTo(convReferenceLoss({ ...c, beta: 0 }, u64, values), 4);
    const tolerance = { rtol: 3e-3, atol: 3e-5 };
    const check = async (what: string, f: (x: Float64Array) => number, at: Float64Array, gradient: { read(): Promise<ArrayLike<number>> }) => {
      const { numeric, analytic } = sampledDifferences(f, at, await gradient.read(), 60, what.length);
      expectClose(analytic, numeric, tolerance, what);
    };
    await check('dL/du', (p) => convReferenceLoss(c, p, values), u64, result.gradFeatures!);
    for (let i = 0; i < values.length; i++) {
      await check(`dL/d${params[i]!.name}`, (p) => convReferenceLoss(c, u64, values.map((v, k) => (k === i ? p : v))), values[i]!, result.headGradients[i]!);
    }
    for (const t of [u, y, result.likelihood, result.logits, result.gradFeatures, ...result.headGradients]) t?.dispose();
    rule.dispose();
  });
});
