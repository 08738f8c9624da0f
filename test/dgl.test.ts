/**
 * DGL, Decoupled Greedy Learning: its auxiliary nets' losses and gradients against float64
 * references and central finite differences (the linear head of feature rows, the paper's
 * MLP-aux of a conv stage, the layer norm and linear of a transformer block), and the structural
 * fact that makes it DGL: with one block, a DGL step is exactly the backprop step of the network
 * made of that block and its head.
 */
import { describe, expect, it } from 'vitest';
import { adaptiveAvgPool2d } from '../src/reference/pool2d.js';
import { layerNorm } from '../src/reference/layernorm.js';
import { crossEntropy } from '../src/reference/loss.js';
import { matmul } from '../src/reference/matmul.js';
import { cnn, DglHead, MLP_AUX_LAYERS, mlp, Trainer, vit } from '../src/sll/index.js';
import { testDevice } from './helpers/device.js';
import { expectClose, finiteDifferenceGradient, uniform } from './helpers/numeric.js';

const device = await testDevice();

/** The head's mean cross-entropy in float64: z = u W^T + b, L = mean_b -log softmax(z_b)[y_b]. */
function referenceLoss(u: Float64Array, W: Float64Array, bias: Float64Array, labels: number[], batch: number, d: number, classes: number): number {
  let total = 0;
  for (let r = 0; r < batch; r++) {
    const z = Float64Array.from({ length: classes }, (_, k) => {
      let acc = bias[k]!;
      for (let j = 0; j < d; j++) acc += u[r * d + j]! * W[k * d + j]!;
      return acc;
    });
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
    total += lse - z[labels[r]!]!;
  }
  return total / batch;
}

describe("DGL's auxiliary head and its analytic gradient", () => {
  it.each([
    ['batch 3, 7 features, 4 classes', 3, 7, 4],
    ['batch 1, 1 feature, 2 classes', 1, 1, 2],
    ['batch 5, 33 features, 10 classes', 5, 33, 10],
  ] as const)('%s: loss, dL/du, dL/dW and dL/db match float64 finite differences', async (_, batch, d, classes) => {
    const head = new DglHead(device, { classes, features: d, seed: [3, 4], label: 'block 1' });
    const uData = uniform(batch * d, 5, -2, 2);
    const labels = Array.from({ length: batch }, (_, i) => (i * 3 + 1) % classes);
    const W = Float64Array.from(await head.weight.read());
    const b = Float64Array.from(await head.bias.read());
    const u = device.tensor(uData, [batch, d]);
    const y = device.tensor(labels, [batch], 'i32');
    const result = head.compute(u, y, undefined, true);
    const u64 = Float64Array.from(uData);
    const loss = Array.from(await result.likelihood!.read()).reduce((s, v) => s + v, 0) / batch;
    expect(loss).toBeCloseTo(referenceLoss(u64, W, b, labels, batch, d, classes), 5);
    const tolerance = { rtol: 1e-3, atol: 1e-5 };
    expectClose(await result.gradFeatures!.read(), finiteDifferenceGradient((p) => referenceLoss(p, W, b, labels, batch, d, classes), u64), tolerance, 'dL/du');
    expectClose(await result.headGradients[0]!.read(), finiteDifferenceGradient((p) => referenceLoss(u64, p, b, labels, batch, d, classes), W), tolerance, 'dL/dW');
    expectClose(await result.headGradients[1]!.read(), finiteDifferenceGradient((p) => referenceLoss(u64, W, p, labels, batch, d, classes), b), tolerance, 'dL/db');
    // Without training, no gradient is computed.
    const evaluation = head.compute(u, y, undefined, false);
    expect(evaluation.gradFeatures).toBeUndefined();
    expect(evaluation.headGradients).toEqual([]);
    for (const t of [u, y, result.likelihood, result.logits, result.gradFeatures, ...result.headGradients, evaluation.likelihood, evaluation.logits]) t?.dispose();
    head.dispose();
  });

  it('refuses features of the wrong width, naming the block', () => {
    const head = new DglHead(device, { classes: 3, features: 4, seed: 1, label: 'block 2' });
    const u = device.tensor(new Float32Array(10), [2, 5]);
    const y = device.tensor([0, 1], [2], 'i32');
    expect(() => head.compute(u, y, undefined, true)).toThrow(/^block 2 DGL head: features \[2, 5\] must be \[batch, 4\]/);
    for (const t of [u, y]) t.dispose();
    head.dispose();
  });
});

/** x [rows, in] W^T + b in float64 (W [out, in]), by the matmul reference. */
function linear(x: Float64Array, W: Float64Array, b: Float64Array, rows: number, inWidth: number, out: number): Float64Array {
  return matmul(x, [rows, inWidth], W, [out, inWidth], { transposeB: true, bias: b });
}

/** Batch norm of [rows, width] by the batch's statistics (biased variance, eps 1e-5), then ReLU. */
function batchNormRelu(x: Float64Array, gamma: Float64Array, beta: Float64Array, rows: number, width: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let j = 0; j < width; j++) {
    let mean = 0;
    for (let r = 0; r < rows; r++) mean += x[r * width + j]! / rows;
    let variance = 0;
    for (let r = 0; r < rows; r++) variance += (x[r * width + j]! - mean) ** 2 / rows;
    for (let r = 0; r < rows; r++) y[r * width + j] = Math.max(0, (gamma[j]! * (x[r * width + j]! - mean)) / Math.sqrt(variance + 1e-5) + beta[j]!);
  }
  return y;
}

/** Mean cross-entropy of logits [rows, classes]. */
function meanCrossEntropy(logits: Float64Array, labels: number[], classes: number): number {
  return crossEntropy(logits, labels, classes).loss.reduce((sum, v) => sum + v, 0) / labels.length;
}

/**
 * The paper's MLP-aux in float64, straight from its description: the stage's maps pooled to
 * ceil(H/4) x ceil(W/4), then 2 x 2, flattened; three times linear, batch norm, ReLU; linear.
 * `params` in the head's order: [W, b, gamma, beta] per hidden layer, then [W, b].
 */
function mlpAuxLoss(u: Float64Array, params: Float64Array[], [batch, channels, height, width]: readonly [number, number, number, number], labels: number[], classes: number): number {
  const quarter = adaptiveAvgPool2d(u, [batch, channels, height, width], [Math.ceil(height / 4), Math.ceil(width / 4)]);
  let x = adaptiveAvgPool2d(quarter, [batch, channels, Math.ceil(height / 4), Math.ceil(width / 4)], [2, 2]);
  const hidden = channels * 4;
  for (let j = 0; j < MLP_AUX_LAYERS; j++) {
    const [W, b, gamma, beta] = params.slice(4 * j, 4 * j + 4) as [Float64Array, Float64Array, Float64Array, Float64Array];
    x = batchNormRelu(linear(x, W, b, batch, hidden, hidden), gamma, beta, batch, hidden);
  }
  const [W, b] = params.slice(4 * MLP_AUX_LAYERS) as [Float64Array, Float64Array];
  return meanCrossEntropy(linear(x, W, b, batch, hidden, classes), labels, classes);
}

/** A transformer block's head in float64: layer norm of the pooled token (eps 1e-5), then linear. */
function tokenHeadLoss(u: Float64Array, [gamma, beta, W, b]: Float64Array[], batch: number, d: number, labels: number[], classes: number): number {
  return meanCrossEntropy(linear(layerNorm(u, gamma!, beta!, d).y, W!, b!, batch, d, classes), labels, classes);
}

describe("DGL's auxiliary nets of conv stages and transformer blocks", () => {
  it.each([
    // A 5x5 stage pools to 2x2 twice; a 9x6 one to 3x2 (overlapping rows), then 2x2; a 2x2 one up from 1x1.
    ['batch 4, a 2x5x5 stage, 3 classes', [4, 2, 5, 5], 3],
    ['batch 3, a 3x9x6 stage, 4 classes', [3, 3, 9, 6], 4],
    ['batch 2, a 1x2x2 stage, 2 classes', [2, 1, 2, 2], 2],
  ] as const)('%s: the MLP-aux loss, dL/du and every parameter gradient match float64 finite differences', async (_, shape, classes) => {
    const [batch, channels, height, width] = shape;
    const features = channels * height * width;
    const head = new DglHead(device, { classes, features, featureMap: 'flatten', blockShape: [channels, height, width], seed: [5, 6], label: 'block 1' });
    expect(head.auxiliary.description).toBe(`mlp-aux ${channels * 4}`);
    // Batch norm gains and shifts away from 1 and 0, so that their gradients are not special.
    for (const p of head.parameters()) if (/gamma|beta/.test(p.name)) device.upload(p.value, uniform(p.value.size, p.name.length, 0.5, 1.5));
    const params = await Promise.all(head.parameters().map(async (p) => Float64Array.from(await p.value.read())));
    const uData = uniform(batch * features, 7, -2, 2);
    const labels = Array.from({ length: batch }, (_, i) => (i * 2 + 1) % classes);
    const u = device.tensor(uData, [batch, features]);
    const y = device.tensor(labels, [batch], 'i32');
    const result = head.compute(u, y, undefined, true);
    const u64 = Float64Array.from(uData);
    const loss = Array.from(await result.likelihood!.read()).reduce((sum, v) => sum + v, 0) / batch;
    expect(loss).toBeCloseTo(mlpAuxLoss(u64, params, shape, labels, classes), 4);
    const tolerance = { rtol: 3e-3, atol: 3e-5 };
    expectClose(await result.gradFeatures!.read(), finiteDifferenceGradient((p) => mlpAuxLoss(p, params, shape, labels, classes), u64), tolerance, 'dL/du');
    expect(result.headGradients).toHaveLength(params.length);
    for (let i = 0; i < params.length; i++) {
      const numeric = finiteDifferenceGradient((p) => mlpAuxLoss(u64, params.map((q, k) => (k === i ? p : q)), shape, labels, classes), params[i]!);
      expectClose(await result.headGradients[i]!.read(), numeric, tolerance, `dL/d${head.parameters()[i]!.name}`);
    }
    // Its batch norms' running statistics are buffers a checkpoint keeps.
    expect(head.buffers().map((b) => b.name)).toEqual(['3.runningMean', '3.runningVar', '6.runningMean', '6.runningVar', '9.runningMean', '9.runningVar']);
    for (const t of [u, y, result.likelihood, result.logits, result.gradFeatures, ...result.headGradients]) t?.dispose();
    head.dispose();
  });

  it('a transformer block (mean token, batch 3, width 6, 4 classes): layer norm and linear, loss and every gradient against finite differences', async () => {
    const [batch, d, classes] = [3, 6, 4];
    const head = new DglHead(device, { classes, features: d, featureMap: 'mean-token', blockShape: [5, d], seed: 9, label: 'block 2' });
    expect(head.auxiliary.description).toBe('layernorm + linear');
    device.upload(head.parameters()[0]!.value, uniform(d, 2, 0.5, 1.5));
    device.upload(head.parameters()[1]!.value, uniform(d, 3, -0.5, 0.5));
    const params = await Promise.all(head.parameters().map(async (p) => Float64Array.from(await p.value.read())));
    const uData = uniform(batch * d, 8, -2, 2);
    const labels = [3, 0, 2];
    const u = device.tensor(uData, [batch, d]);
    const y = device.tensor(labels, [batch], 'i32');
    const result = head.compute(u, y, undefined, true);
    const u64 = Float64Array.from(uData);
    const loss = Array.from(await result.likelihood!.read()).reduce((sum, v) => sum + v, 0) / batch;
    expect(loss).toBeCloseTo(tokenHeadLoss(u64, params, batch, d, labels, classes), 5);
    const tolerance = { rtol: 2e-3, atol: 2e-5 };
    expectClose(await result.gradFeatures!.read(), finiteDifferenceGradient((p) => tokenHeadLoss(p, params, batch, d, labels, classes), u64), tolerance, 'dL/du');
    for (let i = 0; i < params.length; i++) {
      const numeric = finiteDifferenceGradient((p) => tokenHeadLoss(u64, params.map((q, k) => (k === i ? p : q)), batch, d, labels, classes), params[i]!);
      expectClose(await result.headGradients[i]!.read(), numeric, tolerance, `dL/d${head.parameters()[i]!.name}`);
    }
    for (const t of [u, y, result.likelihood, result.logits, result.gradFeatures, ...result.headGradients]) t?.dispose();
    head.dispose();
  });

  it("each block of a CNN and a ViT gets its net: MLP-aux for a conv stage's maps, linear for rows, layer norm and linear for tokens", () => {
    const conv = cnn(device, { inputShape: [1, 8, 8], classes: 3, seed: 1, channels: [2, 4], hidden: 8 });
    const tokens = vit(device, { inputShape: [1, 8, 8], classes: 3, seed: 1, patch: 4, dim: 8, depth: 2, heads: 2, mlpRatio: 2 });
    const heads = (model: typeof conv) => {
      const trainer = new Trainer(device, model, { method: 'dgl', optimizer: { kind: 'adam', lr: 1e-3 }, seed: 1 });
      const described = trainer.objectives.map((o) => (o as DglHead).auxiliary.description);
      const names = trainer.parameterEntries().map((e) => `${e.name}${e.buffer ? ' (buffer)' : ''}`);
      trainer.dispose();
      return { described, names };
    };
    const c = heads(conv);
    expect(c.described).toEqual(['mlp-aux 8', 'mlp-aux 16', 'linear']);
    expect(c.names).toContain('block1.head.3.runningMean (buffer)');
    expect(c.names).toContain('block2.head.11.weight');
    expect(heads(tokens).described).toEqual(['layernorm + linear', 'layernorm + linear']);
    conv.dispose();
    tokens.dispose();
  });
});

describe('DGL, structurally', () => {
  it('with one block, a DGL step is the backprop step of that block and its head (the head started as the classifier)', async () => {
    const batch = 6;
    const images = uniform(batch * 5, 9, -1, 1);
    const labels = [0, 1, 2, 0, 1, 2];
    const build = () => mlp(device, { inputShape: [5], hidden: [4], classes: 3, seed: 11 });
    const local = build();
    const chained = build();
    const dgl = new Trainer(device, local, { method: 'dgl', optimizer: { kind: 'sgd', lr: 0.5 }, seed: 3 });
    const backprop = new Trainer(device, chained, { method: 'backprop', optimizer: { kind: 'sgd', lr: 0.5 }, seed: 3 });
    // The head starts where backprop's classifier starts: the two networks are then the same.
    const head = dgl.objectives[0] as DglHead;
    const [cw, cb] = chained.classifier.parameters().map((p) => p.value);
    device.upload(head.weight, await cw!.read());
    device.upload(head.bias, await cb!.read());
    const x = device.tensor(images, [batch, 5]);
    const y = device.tensor(labels, [batch], 'i32');
    for (let step = 0; step < 3; step++) {
      dgl.trainStep(x, y);
      backprop.trainStep(x, y);
    }
    const read = async (t: { read(): Promise<ArrayLike<number>> }) => Array.from(await t.read());
    const [dglW, dglB] = await Promise.all(local.blocks[0]!.layers.parameters().map((p) => read(p.value)));
    const [bpW, bpB] = await Promise.all(chained.blocks[0]!.layers.parameters().map((p) => read(p.value)));
    const tolerance = { rtol: 1e-5, atol: 1e-6 };
    expectClose(dglW!, bpW!, tolerance, 'block 1 weight');
    expectClose(dglB!, bpB!, tolerance, 'block 1 bias');
    expectClose(await read(head.weight), await read(cw!), tolerance, "head weight = backprop's classifier weight");
    expectClose(await read(head.bias), await read(cb!), tolerance, "head bias = backprop's classifier bias");
    // And the weights did move: the comparison is not of two untouched networks.
    const initial = build();
    const startW = await read(initial.blocks[0]!.layers.parameters()[0]!.value);
    expect(Math.max(...dglW!.map((v, i) => Math.abs(v - startW[i]!)))).toBeGreaterThan(1e-3);
    for (const t of [x, y]) t.dispose();
    for (const o of [dgl, backprop, local, chained, initial]) o.dispose();
  });
});
