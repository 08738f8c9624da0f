/**
 * DGL, Decoupled Greedy Learning: its auxiliary head's loss and gradients against a float64
 * reference and central finite differences, and the structural fact that makes it DGL: with one
 * block, a DGL step is exactly the backprop step of the network made of that block and its head.
 */
import { describe, expect, it } from 'vitest';
import { DglHead, mlp, Trainer } from '../src/sll/index.js';
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
