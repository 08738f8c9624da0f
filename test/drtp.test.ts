/**
 * DRTP, Direct Random Target Projection: a block's learning signal is its fixed matrix B times
 * the one-hot target, and nothing else (not the features, not the output's error), held to a
 * float64 product; and the block's update is the block's own backward from that signal.
 */
import { describe, expect, it } from 'vitest';
import { splitValidation } from '../src/data/datasets.js';
import { loadDigits } from '../src/data/digits.js';
import { Sequential } from '../src/nn/sequential.js';
import { cnn, decodeCheckpoint, DrtpSignal, encodeCheckpoint, evaluate, fit, mlp, resolveTrainingSpec, restoreTrainer, Trainer } from '../src/sll/index.js';
import { inBrowser, testDevice } from './helpers/device.js';
import { expectClose, uniform } from './helpers/numeric.js';

const device = await testDevice();

describe("DRTP's learning signal", () => {
  it.each([
    ['batch 5, 7 features, 4 classes', 5, 7, 4],
    ['batch 1, 1 feature, 2 classes', 1, 1, 2],
    ['batch 130, 33 features, 10 classes', 130, 33, 10],
  ] as const)('%s: dL/dh is onehot(y) B (float64), whatever the features', async (_, batch, d, classes) => {
    const signal = new DrtpSignal(device, { classes, features: d, seed: [8, 1], label: 'block 1' });
    const B = Array.from(await signal.projection.read());
    // B is kaiming-uniform on [K, d]: inside +-sqrt(6 / d), not all one value.
    const bound = Math.sqrt(6 / d);
    expect(B.every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(new Set(B).size).toBeGreaterThan(1);
    const labels = Array.from({ length: batch }, (_, i) => (i * 3 + 2) % classes);
    const expected = new Float64Array(batch * d);
    for (let r = 0; r < batch; r++) for (let k = 0; k < classes; k++) for (let j = 0; j < d; j++) expected[r * d + j]! += (labels[r] === k ? 1 : 0) * B[k * d + j]!;
    const y = device.tensor(labels, [batch], 'i32');
    for (const seed of [1, 2]) {
      const u = device.tensor(uniform(batch * d, seed, -3, 3), [batch, d]);
      const result = signal.compute(u, y, undefined, true);
      expectClose(await result.gradFeatures!.read(), expected, { rtol: 0, atol: 0 }, 'dL/dh');
      // No head, no loss, no logits: the block has nothing of its own to report.
      expect(result.likelihood).toBeUndefined();
      expect(result.logits).toBeUndefined();
      expect(result.headGradients).toEqual([]);
      for (const t of [u, result.gradFeatures]) t?.dispose();
    }
    y.dispose();
    signal.dispose();
  });

  it("a DRTP step moves a block as the block's own backward from onehot(y) B does", async () => {
    const batch = 6;
    const images = uniform(batch * 5, 4, -1, 1);
    const labels = [2, 0, 1, 1, 0, 2];
    const model = mlp(device, { inputShape: [5], hidden: [4], classes: 3, seed: 13 });
    const twin = mlp(device, { inputShape: [5], hidden: [4], classes: 3, seed: 13 });
    const trainer = new Trainer(device, model, { method: 'drtp', optimizer: { kind: 'sgd', lr: 0.1 }, seed: 6 });
    const signal = trainer.objectives[0] as DrtpSignal;
    const x = device.tensor(images, [batch, 5]);
    const y = device.tensor(labels, [batch], 'i32');
    // By hand on the twin: forward, then the block's backward from the label's row of B.
    const h = twin.blocks[0]!.layers.forward(x, { training: true });
    const dh = device.tensor(await signal.compute(h, y, undefined, true).gradFeatures!.read(), [batch, 4]);
    const grads = twin.blocks[0]!.layers.backward(dh, { inputGradient: false });
    const before = await Promise.all(twin.blocks[0]!.layers.parameters().map(async (p) => Array.from(await p.value.read())));
    const expected = await Promise.all(grads.params.map(async (g, i) => Array.from(await g.read()).map((v, k) => before[i]![k]! - 0.1 * v)));
    trainer.trainStep(x, y);
    const after = await Promise.all(model.blocks[0]!.layers.parameters().map(async (p) => Array.from(await p.value.read())));
    after.forEach((values, i) => expectClose(values, expected[i]!, { rtol: 1e-5, atol: 1e-6 }, `block 1 parameter ${i}`));
    expect(Math.max(...after[0]!.map((v, k) => Math.abs(v - before[0]![k]!)))).toBeGreaterThan(1e-4);
    for (const t of [x, y, h, dh, ...grads.params]) t.dispose();
    for (const o of [trainer, model, twin]) o.dispose();
  });

  it("on a conv stage the signal meets the activation before the pooling (B of that size), and a step moves the convolution as its own backward from it", async () => {
    const batch = 4;
    const images = uniform(batch * 36, 5, -1, 1);
    const labels = [2, 0, 1, 2];
    const build = () => cnn(device, { inputShape: [1, 6, 6], classes: 3, seed: 2, channels: [2], hidden: 4, activation: 'tanh' });
    const model = build();
    const twin = build();
    const trainer = new Trainer(device, model, { method: 'drtp', optimizer: { kind: 'sgd', lr: 0.1 }, seed: 6 });
    const signal = trainer.objectives[0] as DrtpSignal;
    // The stage's activation before pooling is [2, 6, 6]; after it, [2, 3, 3].
    expect(signal.options.features).toBe(2 * 6 * 6);
    const x = device.tensor(images, [batch, 1, 6, 6]);
    const y = device.tensor(labels, [batch], 'i32');
    // By hand on the twin: the stage without its pooling, then its backward from the label's row of B at every position.
    const stage = twin.blocks[0]!.layers as Sequential;
    const body = new Sequential(stage.layers.slice(0, -1));
    const pre = body.forward(x, { training: true });
    expect(pre.shape).toEqual([batch, 2, 6, 6]);
    const rows = await signal.compute(pre.reshape([batch, 72]), y, undefined, true).gradFeatures!.read();
    const dPre = device.tensor(rows, [batch, 2, 6, 6]);
    const grads = body.backward(dPre, { inputGradient: false });
    const before = await Promise.all(body.parameters().map(async (p) => Array.from(await p.value.read())));
    const expected = await Promise.all(grads.params.map(async (g, i) => Array.from(await g.read()).map((v, k) => before[i]![k]! - 0.1 * v)));
    trainer.trainStep(x, y);
    const after = await Promise.all(model.blocks[0]!.layers.parameters().map(async (p) => Array.from(await p.value.read())));
    after.forEach((values, i) => expectClose(values, expected[i]!, { rtol: 1e-5, atol: 1e-6 }, `stage 1 parameter ${i}`));
    expect(Math.max(...after[0]!.map((v, k) => Math.abs(v - before[0]![k]!)))).toBeGreaterThan(1e-4);
    for (const t of [x, y, pre, dPre, ...grads.params]) t.dispose();
    for (const o of [trainer, model, twin]) o.dispose();
  });

  it("its blocks default to tanh in a spec, the MLP's and the CNN's, PredSim's to LeakyReLU (each its authors'); a given activation is kept, and every other method defaults to ReLU", () => {
    const resolve = (method: string, model: Record<string, unknown>) => resolveTrainingSpec({ method, model, dataset: { name: 'blobs', validation: 0 } }, { classes: 3 }).model;
    for (const kind of ['mlp', 'cnn']) {
      expect(resolve('drtp', { kind })).toMatchObject({ activation: 'tanh' });
      expect(resolve('drtp', { kind, activation: 'relu' })).toMatchObject({ activation: 'relu' });
      expect(resolve('predsim', { kind })).toMatchObject({ activation: 'leaky-relu' });
      expect(resolve('predsim', { kind, activation: 'relu' })).toMatchObject({ activation: 'relu' });
      for (const method of ['sll', 'dgl', 'backprop']) expect(resolve(method, { kind })).toMatchObject({ activation: 'relu' });
    }
    expect(resolve('ff', { kind: 'mlp' })).toMatchObject({ activation: 'relu' });
  });

  it('a checkpoint is restored only into a trainer of its own method (SLL and DRTP can have the same tensors)', async () => {
    const spec = resolveTrainingSpec({ method: 'sll', model: { kind: 'mlp', hidden: [4] }, dataset: { name: 'blobs', validation: 0 } }, { classes: 3 });
    const data = { name: 'blobs', inputShape: [1, 1, 5] as [number, number, number], classes: 3, mean: 0, std: 1 };
    const a = mlp(device, { inputShape: [1, 1, 5], hidden: [4], classes: 3, seed: 1 });
    const b = mlp(device, { inputShape: [1, 1, 5], hidden: [4], classes: 3, seed: 1 });
    const sllTrainer = new Trainer(device, a, { method: 'sll', optimizer: { kind: 'adam', lr: 1e-3 }, seed: 1 });
    const drtpTrainer = new Trainer(device, b, { method: 'drtp', optimizer: { kind: 'adam', lr: 1e-3 }, seed: 1 });
    const checkpoint = decodeCheckpoint(await encodeCheckpoint(sllTrainer, { spec, data, position: { epoch: 0, batch: 0 } }));
    expect(() => restoreTrainer(drtpTrainer, checkpoint, 'sll.safetensors')).toThrow(/^sll\.safetensors: saved by a sll run, but the trainer given trains by drtp$/);
    for (const o of [sllTrainer, drtpTrainer, a, b]) o.dispose();
  });

  // The bundled digits are read from files: Node only.
  it.skipIf(inBrowser)('learns from its signal: with tanh blocks (the authors\' activation) it beats the same network whose blocks never move', async () => {
    const digits = loadDigits();
    const { train, validation } = splitValidation(digits, 1000);
    const accuracyOf = async (silenced: boolean) => {
      const model = mlp(device, { inputShape: digits.shape, hidden: [64, 64], activation: 'tanh', classes: 10, seed: 3 });
      const trainer = new Trainer(device, model, { method: 'drtp', optimizer: { kind: 'adam', lr: 3e-3 }, seed: 4, metricsEvery: 200 });
      // The control: every B zeroed, so the blocks get no signal and only the classifier learns.
      if (silenced) for (const rule of trainer.objectives) device.upload((rule as DrtpSignal).projection, new Float32Array((rule as DrtpSignal).projection.size));
      try {
        await fit(trainer, train, digits.shape, { epochs: 1, batchSize: 64, seed: 5 });
        return (await evaluate(trainer, validation, digits.shape, 500)).accuracy;
      } finally {
        trainer.dispose();
        model.dispose();
      }
    };
    const learned = await accuracyOf(false);
    const frozen = await accuracyOf(true);
    console.log(`DRTP, tanh 2x64, one epoch on the digits: ${(100 * learned).toFixed(1)}% against ${(100 * frozen).toFixed(1)}% with the blocks frozen`);
    expect(learned).toBeGreaterThan(frozen + 0.05);
  });
});
