import { describe, expect, it } from 'vitest';
import { cnn, latentModeObjective, measureStepMemory, mlp, NonFiniteError, Trainer, vit, type Method } from '../src/sll/index.js';
import { testDevice } from './helpers/device.js';
import { rng } from './helpers/numeric.js';
import { disposeAll } from './helpers/ops.js';

const device = await testDevice();

/** Ten Gaussian blobs in 20 dimensions: a task an MLP learns in a few hundred steps. */
function blobs(count: number, seed: number) {
  const next = rng(seed);
  const centers = Array.from({ length: 10 }, () => Array.from({ length: 20 }, () => next() * 4 - 2));
  const images = new Float32Array(count * 20);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % 10;
    labels[i] = label;
    for (let k = 0; k < 20; k++) images[i * 20 + k] = centers[label]![k]! + (next() - 0.5) * 2;
  }
  return { images, labels };
}

/** `steps` SLL or backprop steps of batch 50 over 1,000 blobs. */
function trainOnBlobs(trainer: Trainer, steps: number): void {
  const data = blobs(1000, 3);
  for (let s = 0; s < steps; s++) {
    const start = (s * 50) % 1000;
    const x = device.tensor(data.images.slice(start * 20, (start + 50) * 20), [50, 20]);
    const y = device.tensor(data.labels.slice(start, start + 50), [50], 'i32');
    trainer.trainStep(x, y);
    x.dispose();
    y.dispose();
  }
}

async function train(method: Method, depth: number, { steps = 60, batch = 50, poison = -1 } = {}) {
  const model = mlp(device, { inputShape: [20], hidden: new Array(depth).fill(32), classes: 10, seed: 1 });
  const trainer = new Trainer(device, model, { method, optimizer: { kind: 'adam', lr: 3e-3 }, seed: 2, metricsEvery: 10 });
  const data = blobs(1000, 3);
  const losses: number[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      const start = (s * batch) % data.labels.length;
      const imageData = data.images.slice(start * 20, (start + batch) * 20);
      if (s === poison) imageData[5] = Number.NaN;
      const x = device.tensor(imageData, [batch, 20]);
      const y = device.tensor(data.labels.slice(start, start + batch), [batch], 'i32');
      trainer.trainStep(x, y);
      x.dispose();
      y.dispose();
      if (trainer.metricsDue) losses.push((await trainer.readMetrics()).units.at(-1)!.likelihood);
    }
    const test = blobs(500, 3);
    const x = device.tensor(test.images, [500, 20]);
    const y = device.tensor(test.labels, [500], 'i32');
    const { correct, blockCorrect } = await trainer.evaluateBatch(x, y, test.labels);
    x.dispose();
    y.dispose();
    return { accuracy: correct / 500, blockAccuracy: blockCorrect.map((c) => c / 500), losses, trainer, model };
  } catch (e) {
    trainer.dispose();
    model.dispose();
    throw e;
  }
}

describe('trainers', () => {
  it('report a loss per SLL unit, and for backprop only the classifier loss', async () => {
    for (const method of ['sll', 'backprop'] as const) {
      const model = mlp(device, { inputShape: [20], hidden: [8, 8], classes: 10, seed: 1 });
      const trainer = new Trainer(device, model, { method, optimizer: { kind: 'adam', lr: 1e-3 }, seed: 2, metricsEvery: 1 });
      const data = blobs(10, 4);
      const x = device.tensor(data.images, [10, 20]);
      const y = device.tensor(data.labels, [10], 'i32');
      trainer.trainStep(x, y);
      const names = (await trainer.readMetrics()).units.map((u) => u.name);
      expect(names).toEqual(method === 'sll' ? ['block 1', 'block 2', 'classifier'] : ['classifier']);
      for (const t of [x, y]) t.dispose();
      trainer.dispose();
      model.dispose();
    }
  });

  it("report each unit's training accuracy over the window's steps, and start the next window from zero", async () => {
    // Trained first, so that the heads and the classifier are far from chance; then stepped by
    // SGD at lr 0, where the weights stay put and (no dropout) a step's logits are the ones
    // evaluateBatch computes on the same batch. The same seed gives the same projections.
    const model = mlp(device, { inputShape: [20], hidden: [32, 32], classes: 10, seed: 1 });
    const trained = new Trainer(device, model, { method: 'sll', optimizer: { kind: 'adam', lr: 3e-3 }, seed: 2, metricsEvery: 30 });
    trainOnBlobs(trained, 30);
    await trained.readMetrics();
    trained.dispose();
    const data = blobs(150, 3);
    const batches = [[0, 50], [50, 150]].map(([start, end]) => {
      const labels = data.labels.slice(start, end);
      return { x: device.tensor(data.images.slice(start! * 20, end! * 20), [labels.length, 20]), y: device.tensor(labels, [labels.length], 'i32'), labels };
    });
    for (const method of ['sll', 'backprop'] as const) {
      // A rate of 0 is refused (a step that cannot learn); at 1e-30 the logits move far less than any gap between them.
      const trainer = new Trainer(device, model, { method, optimizer: { kind: 'sgd', lr: 1e-30 }, seed: 2, metricsEvery: 2 });
      // Correct rows per unit (blocks' heads for SLL, then the classifier) of each batch.
      const correct: number[][] = [];
      for (const b of batches) {
        const { correct: classifier, blockCorrect } = await trainer.evaluateBatch(b.x, b.y, b.labels);
        correct.push([...blockCorrect, classifier]);
      }
      for (const b of batches) trainer.trainStep(b.x, b.y);
      const both = await trainer.readMetrics();
      trainer.trainStep(batches[0]!.x, batches[0]!.y);
      const first = await trainer.readMetrics();
      const expected = (counts: number[][], samples: number) => counts[0]!.map((_, u) => counts.reduce((n, c) => n + c[u]!, 0) / samples);
      expect(both.units.map((u) => u.accuracy), `${method}, two batches`).toEqual(expected(correct, 150));
      expect(first.units.map((u) => u.accuracy), `${method}, the next window`).toEqual(expected(correct.slice(0, 1), 50));
      // Not chance: the trained units are right on most rows.
      for (const u of both.units) expect(u.accuracy, `${method}, ${u.name}`).toBeGreaterThan(0.5);
      trainer.dispose();
    }
    for (const b of batches) disposeAll(b.x, b.y);
    model.dispose();
  });

  for (const method of ['sll', 'dgl', 'drtp', 'predsim', 'dfa', 'backprop'] as const) {
    it(`${method} learns ten blobs (accuracy >= 0.9) and its classifier loss falls`, async () => {
      const { accuracy, blockAccuracy, losses, trainer, model } = await train(method, 3);
      console.log(`${method}: accuracy ${accuracy}, block heads ${blockAccuracy.join(', ')}, classifier loss ${losses.map((l) => l.toFixed(3)).join(' -> ')}`);
      expect(accuracy).toBeGreaterThanOrEqual(0.9);
      if (method === 'predsim') {
        // PredSim's blocks learn mostly (beta 0.99) from a similarity of centred, normalised
        // rows, which no scale of the features changes: they stay near their initial scale, so
        // the classifier's logits, and its confidence, grow slowly (2.31 -> 1.93 here, at 99.8%).
        for (let k = 1; k < losses.length; k++) expect(losses[k]!, `window ${k}`).toBeLessThan(losses[k - 1]!);
        expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.9);
      } else {
        expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.5);
      }
      // SLL's, DGL's and PredSim's blocks have heads that predict; DRTP's, DFA's and backprop's have none.
      if (method === 'sll' || method === 'dgl' || method === 'predsim') {
        expect(blockAccuracy).toHaveLength(3);
        for (const a of blockAccuracy) expect(a).toBeGreaterThan(0.5);
      } else {
        expect(blockAccuracy).toHaveLength(0);
      }
      trainer.dispose();
      model.dispose();
    });
  }

  it("PredSim's authors' blocks (linear, batch norm, LeakyReLU) learn ten blobs under PredSim and under backprop", async () => {
    for (const method of ['predsim', 'backprop'] as const) {
      const model = mlp(device, { inputShape: [20], hidden: [32, 32], classes: 10, seed: 1, batchNorm: true, activation: 'leaky-relu' });
      expect(model.name).toBe('mlp 20-32-32-10 (batch norm, leaky-relu)');
      const trainer = new Trainer(device, model, { method, optimizer: { kind: 'adam', lr: 3e-3 }, seed: 2, metricsEvery: 10 });
      trainOnBlobs(trainer, 60);
      const test = blobs(500, 3);
      const x = device.tensor(test.images, [500, 20]);
      const y = device.tensor(test.labels, [500], 'i32');
      // Evaluation normalises with the running statistics the training steps moved.
      const { correct } = await trainer.evaluateBatch(x, y, test.labels);
      expect(correct / 500, method).toBeGreaterThanOrEqual(0.9);
      for (const o of [x, y, trainer, model]) o.dispose();
    }
  });

  it("aligns a block whose d0 differs from the previous block's with a projection of its own input", async () => {
    const model = mlp(device, { inputShape: [20], hidden: [32, 32, 32], classes: 10, seed: 1 });
    const widths = [16, 24, 24];
    const trainer = new Trainer(device, model, { method: 'sll', optimizer: { kind: 'adam', lr: 3e-3 }, seed: 2, metricsEvery: 60, objective: (i) => latentModeObjective({ d0: widths[i]! }) });
    // Block 1 aligns with R_0 of the input, block 2 with a projection of its own input (d0 changes), block 3 with block 2.
    expect(trainer.stateBytes().projections).toBe(4 * (16 * 32 + 24 * 32 + 24 * 32 + 16 * 20 + 24 * 32));
    trainOnBlobs(trainer, 60);
    const metrics = await trainer.readMetrics();
    for (const unit of metrics.units.slice(0, 3)) expect(unit.alignment).toBeGreaterThan(0);
    const test = blobs(500, 3);
    const x = device.tensor(test.images, [500, 20]);
    const y = device.tensor(test.labels, [500], 'i32');
    const { correct } = await trainer.evaluateBatch(x, y, test.labels);
    expect(correct / 500).toBeGreaterThanOrEqual(0.9);
    for (const t of [x, y]) t.dispose();
    trainer.dispose();
    model.dispose();
  });

  it('without input alignment, blocks with no same-width block before them have no alignment term and no input projection', async () => {
    const model = mlp(device, { inputShape: [20], hidden: [32, 32, 32], classes: 10, seed: 1 });
    const widths = [16, 24, 24];
    const trainer = new Trainer(device, model, { method: 'sll', optimizer: { kind: 'adam', lr: 3e-3 }, seed: 2, metricsEvery: 20, objective: (i) => latentModeObjective({ d0: widths[i]!, inputAlignment: false }) });
    // Only the blocks' own projections: no R_0 for block 1, none for block 2 (d0 changes there).
    expect(trainer.stateBytes().projections).toBe(4 * (16 * 32 + 24 * 32 + 24 * 32));
    trainOnBlobs(trainer, 20);
    const units = (await trainer.readMetrics()).units;
    expect(units.map((u) => u.alignment === undefined)).toEqual([true, true, false, true]);
    expect(units[2]!.alignment).toBeGreaterThan(0);
    trainer.dispose();
    model.dispose();
  });

  it('gives the same losses for the same seed on the same adapter', async () => {
    const a = await train('sll', 2, { steps: 20 });
    const b = await train('sll', 2, { steps: 20 });
    expect(a.losses).toEqual(b.losses);
    for (const r of [a, b]) {
      r.trainer.dispose();
      r.model.dispose();
    }
  });

  it('stops on a non-finite gradient, naming the block and the step, with the weights of the last good step', async () => {
    const model = mlp(device, { inputShape: [20], hidden: [16, 16], classes: 10, seed: 4 });
    const trainer = new Trainer(device, model, { method: 'sll', optimizer: { kind: 'adam', lr: 1e-3 }, seed: 2, metricsEvery: 10 });
    const data = blobs(100, 5);
    const before: Float32Array[] = [];
    let error: unknown;
    for (let s = 0; s < 10; s++) {
      const imageData = data.images.slice(0, 50 * 20);
      if (s === 4) imageData[7] = Number.NaN;
      if (s === 4) for (const p of model.blocks[0]!.layers.parameters()) before.push((await p.value.read()) as Float32Array);
      const x = device.tensor(imageData, [50, 20]);
      const y = device.tensor(data.labels.slice(0, 50), [50], 'i32');
      trainer.trainStep(x, y);
      x.dispose();
      y.dispose();
    }
    try {
      await trainer.readMetrics();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NonFiniteError);
    expect((error as NonFiniteError).unit).toBe('block 1');
    expect((error as NonFiniteError).step).toBe(4);
    const after = await Promise.all(model.blocks[0]!.layers.parameters().map((p) => p.value.read()));
    after.forEach((values, i) => expect(Array.from(values)).toEqual(Array.from(before[i]!)));
    trainer.dispose();
    model.dispose();
  });
});

describe('memory', () => {
  async function peakActivationBytes(method: Method, depth: number): Promise<number> {
    const model = mlp(device, { inputShape: [64], hidden: new Array(depth).fill(256), classes: 10, seed: 1 });
    const trainer = new Trainer(device, model, { method, optimizer: { kind: 'adam', lr: 1e-3 }, seed: 2 });
    const x = device.tensor(new Float32Array(128 * 64).fill(0.5), [128, 64]);
    const y = device.tensor(new Int32Array(128).fill(3), [128], 'i32');
    const { activationBytes } = await measureStepMemory(trainer, x, y);
    for (const t of [x, y]) t.dispose();
    trainer.dispose();
    model.dispose();
    return activationBytes;
  }

  it('SLL, DGL, DRTP, PredSim and Forward-Forward peak activation memory stays within 10% from depth 2 to depth 8, while backprop grows', async () => {
    for (const local of ['dgl', 'drtp', 'predsim', 'ff'] as const) {
      const shallow = await peakActivationBytes(local, 2);
      const deep = await peakActivationBytes(local, 8);
      console.log(`peak activation+scratch bytes: ${local} depth 2 ${shallow}, depth 8 ${deep}`);
      expect(Math.abs(deep - shallow) / shallow, local).toBeLessThanOrEqual(0.1);
    }
    const sll2 = await peakActivationBytes('sll', 2);
    const sll8 = await peakActivationBytes('sll', 8);
    const bp2 = await peakActivationBytes('backprop', 2);
    const bp8 = await peakActivationBytes('backprop', 8);
    console.log(`peak activation+scratch bytes: SLL depth 2 ${sll2}, depth 8 ${sll8}; backprop depth 2 ${bp2}, depth 8 ${bp8}`);
    expect(Math.abs(sll8 - sll2) / sll2).toBeLessThanOrEqual(0.1);
    // Backprop keeps every block's input (128 x 256 floats) until the backward pass: six more
    // blocks keep at least six more of them.
    expect(bp8 - bp2).toBeGreaterThanOrEqual(6 * 128 * 256 * 4);
  });

  it("DFA's peak activation memory grows with depth as backprop's does: its blocks keep their inputs until the output error comes back", async () => {
    const dfa2 = await peakActivationBytes('dfa', 2);
    const dfa8 = await peakActivationBytes('dfa', 8);
    console.log(`peak activation+scratch bytes: DFA depth 2 ${dfa2}, depth 8 ${dfa8}`);
    expect(dfa8 - dfa2).toBeGreaterThanOrEqual(6 * 128 * 256 * 4);
  });
});

describe('CNN blocks', () => {
  /** Images [C, S, S] whose class is where a bright square patch sits (10 positions), with noise. */
  function patches(count: number, channels: number, size: number, seed: number) {
    const next = rng(seed);
    const images = new Float32Array(count * channels * size * size);
    const labels = new Int32Array(count);
    const cell = Math.floor(size / 4);
    const extent = Math.max(3, cell - 2);
    for (let i = 0; i < count; i++) {
      const label = i % 10;
      labels[i] = label;
      const row = 1 + (Math.floor(label / 4) % 3) * cell;
      const col = 1 + (label % 4) * cell;
      for (let c = 0; c < channels; c++) {
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            const inside = y >= row && y < row + extent && x >= col && x < col + extent;
            images[((i * channels + c) * size + y) * size + x] = (inside ? 1.5 : 0) + (next() - 0.5) * 0.6;
          }
        }
      }
    }
    return { images, labels };
  }

  async function trainCnn(method: Method, model: ReturnType<typeof cnn>, shape: [number, number, number], steps: number) {
    const trainer = new Trainer(device, model, {
      method,
      optimizer: { kind: 'adam', lr: 2e-3 },
      seed: 3,
      objective: () => latentModeObjective({ d0: 32 }),
      metricsEvery: steps,
    });
    const data = patches(320, shape[0], shape[1], 5);
    const batch = 32;
    const per = shape[0] * shape[1] * shape[2];
    let metrics;
    for (let s = 0; s < steps; s++) {
      const start = (s * batch) % 320;
      const x = device.tensor(data.images.slice(start * per, (start + batch) * per), [batch, ...shape]);
      const y = device.tensor(data.labels.slice(start, start + batch), [batch], 'i32');
      trainer.trainStep(x, y);
      x.dispose();
      y.dispose();
    }
    metrics = await trainer.readMetrics();
    const test = patches(200, shape[0], shape[1], 6);
    const x = device.tensor(test.images, [200, ...shape]);
    const y = device.tensor(test.labels, [200], 'i32');
    const result = await trainer.evaluateBatch(x, y, test.labels);
    x.dispose();
    y.dispose();
    trainer.dispose();
    model.dispose();
    return { accuracy: result.correct / 200, blocks: result.blockCorrect.map((c) => c / 200), metrics };
  }

  for (const method of ['sll', 'dgl', 'predsim', 'drtp', 'backprop'] as const) {
    it(`${method}: a small CNN (latent-mode local heads for SLL, the MLP-aux nets for DGL, the conv form for PredSim, tanh for DRTP) learns where the patch is`, async () => {
      // DRTP's signal never shrinks: its authors' tanh bounds the drift ReLU would follow (docs/algorithm.md).
      const model = cnn(device, { inputShape: [1, 12, 12], classes: 10, seed: 2, channels: [4, 8], hidden: 32, ...(method === 'drtp' ? { activation: 'tanh' as const } : {}) });
      // DGL's MLP-aux nets (three hidden layers with batch norm per stage), PredSim's zero-started
      // heads (their loss weighted by 1 - beta = 0.01) and DRTP's fixed signal (0.69 at 60 steps)
      // start slower than SLL's heads.
      const { accuracy, blocks } = await trainCnn(method, model, [1, 12, 12], method === 'dgl' || method === 'predsim' || method === 'drtp' ? 120 : 60);
      console.log(`cnn ${method}: accuracy ${accuracy}, block heads ${blocks.join(', ')}`);
      expect(accuracy).toBeGreaterThanOrEqual(0.8);
    });
  }

  it('the VGG-style variant (three conv-conv-pool stages) trains on synthetic 32x32x3 images', async () => {
    const model = cnn(device, { inputShape: [3, 32, 32], classes: 10, seed: 2, channels: [4, 8, 8], convsPerStage: 2, hidden: 32 });
    expect(model.blocks).toHaveLength(4);
    expect(model.blockShapes).toEqual([[4, 16, 16], [8, 8, 8], [8, 4, 4], [32]]);
    const { accuracy, blocks } = await trainCnn('sll', model, [3, 32, 32], 80);
    console.log(`vgg-style sll: accuracy ${accuracy}, block heads ${blocks.join(', ')}`);
    // A short run: the early blocks' heads learn first; the classifier must be well above chance.
    expect(blocks[0]!).toBeGreaterThanOrEqual(0.8);
    expect(accuracy).toBeGreaterThanOrEqual(0.6);
  });
});

describe('ViT blocks', () => {
  // SLL's class-mode heads, DGL's layer norm and linear, PredSim's loss, all on the mean token
  // (DRTP stays at chance on this ViT: src/sll/spec.ts, methodModelProblem).
  it.each(['sll', 'dgl', 'predsim'] as const)('%s trains a tiny ViT on synthetic images', async (method) => {
    const next = rng(9);
    const count = 200;
    const images = new Float32Array(count * 64);
    const labels = new Int32Array(count);
    // Class = which of the four 4x4 quadrants of an 8x8 image is bright.
    for (let i = 0; i < count; i++) {
      const label = i % 4;
      labels[i] = label;
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
        const quadrant = (y >= 4 ? 2 : 0) + (x >= 4 ? 1 : 0);
        images[i * 64 + y * 8 + x] = (quadrant === label ? 1 : 0) + (next() - 0.5) * 0.5;
      }
    }
    const model = vit(device, { inputShape: [1, 8, 8], classes: 4, seed: 1, patch: 4, dim: 16, depth: 2, heads: 2, mlpRatio: 2 });
    expect(model.blockShapes).toEqual([[4, 16], [4, 16]]);
    const trainer = new Trainer(device, model, { method, optimizer: { kind: 'adam', lr: 3e-3 }, seed: 1, metricsEvery: 120 });
    for (let s = 0; s < 120; s++) {
      const start = (s * 20) % count;
      const x = device.tensor(images.slice(start * 64, (start + 20) * 64), [20, 1, 8, 8]);
      const y = device.tensor(labels.slice(start, start + 20), [20], 'i32');
      trainer.trainStep(x, y);
      x.dispose();
      y.dispose();
    }
    await trainer.readMetrics();
    const x = device.tensor(images, [count, 1, 8, 8]);
    const y = device.tensor(labels, [count], 'i32');
    const { correct, blockCorrect } = await trainer.evaluateBatch(x, y, labels);
    console.log(`tiny vit ${method}: accuracy ${correct / count}, block heads ${blockCorrect.map((c) => c / count).join(', ')}`);
    expect(correct / count).toBeGreaterThanOrEqual(0.9);
    for (const t of [x, y]) t.dispose();
    trainer.dispose();
    model.dispose();
  });
});
