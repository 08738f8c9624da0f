/**
 * Forward-Forward (src/sll/forwardForward.ts): the block loss's gradient is that of its logistic
 * goodness loss (float64 central differences), a block's input is its length-normalised input,
 * the positive and negative images carry the right and a wrong label, and prediction tries
 * every label: each label's score is the goodness a float64 forward of the image with that
 * label written in gives, summed over the blocks from the second on.
 */
import { describe, expect, it } from 'vitest';
import { ForwardForwardLoss, goodnessScores, LabelEmbedding, lengthNormalize, mlp, Trainer } from '../src/sll/index.js';
import { inBrowser, testDevice } from './helpers/device.js';
import { expectClose, finiteDifferenceGradient, rng, uniform } from './helpers/numeric.js';
import { philox4x32, seedWords } from '../src/random/philox.js';
import { goodnessLoss, normalizeRows } from './helpers/forwardForward.js';

const device = await testDevice();

const read = async (t: { read(): Promise<ArrayLike<number>> }) => Float64Array.from(await t.read());

describe("Forward-Forward's block loss and its derivative rule", () => {
  it.each([
    ['batch 3, width 4, goodness around the threshold', 3, 4, 1],
    ['batch 2, width 7, goodness well above it', 2, 7, 2],
    ['batch 1, width 1', 1, 1, 1.5],
  ] as const)('%s: the pairs\' loss and dL/du against float64 central differences', async (_, batch, d, spread) => {
    const rule = new ForwardForwardLoss(device, { features: d, label: 'block 1' });
    expect(rule.threshold).toBe(d);
    const uData = uniform(2 * batch * d, 3 + d, -spread, spread);
    const u64 = Float64Array.from(uData);
    const u = device.tensor(uData, [2 * batch, d]);
    const labels = device.tensor(new Int32Array(batch), [batch], 'i32');
    const result = rule.compute(u, labels, undefined, true);
    // The likelihood is each pair's loss; their mean over the batch is twice the rows' mean.
    const pairs = await read(result.likelihood!);
    expect(pairs.reduce((s, v) => s + v, 0) / batch).toBeCloseTo(2 * goodnessLoss(u64, 2 * batch, d), 4);
    expectClose(await result.gradFeatures!.read(), finiteDifferenceGradient((p) => goodnessLoss(p, 2 * batch, d), u64), { rtol: 2e-3, atol: 1e-6 }, 'dL/du');
    // A pair is right when its positive row's goodness is the larger: logits [B, 2] = (negative,
    // positive) against labels 1, so that a tie (arg-max takes the first) counts as wrong.
    const logits = await read(result.logits!);
    expect(Array.from(await result.accuracyLabels!.read())).toEqual(new Array(batch).fill(1));
    for (let r = 0; r < batch; r++) {
      const g = (row: number) => Array.from(u64.subarray(row * d, (row + 1) * d)).reduce((s, v) => s + v * v, 0);
      expect(logits[r * 2]!).toBeCloseTo(g(batch + r), 4);
      expect(logits[r * 2 + 1]!).toBeCloseTo(g(r), 4);
    }
    for (const t of [u, labels, result.likelihood, result.logits, result.accuracyLabels, result.gradFeatures]) t?.dispose();
    rule.dispose();
  });

  it('refuses features that are not twice the labels, naming the block', () => {
    const rule = new ForwardForwardLoss(device, { features: 3, label: 'block 2' });
    const u = device.zeros([4, 3]);
    const labels = device.zeros([3], 'i32');
    expect(() => rule.compute(u, labels, undefined, true)).toThrow(/^block 2 Forward-Forward loss: features of 4 rows for 3 labels/);
    for (const t of [u, labels]) t.dispose();
  });

  it('normalises each row by its root mean square', async () => {
    const x = uniform(3 * 2 * 5, 4, -3, 3);
    const t = device.tensor(x, [3, 2, 5]);
    const y = device.scope(() => lengthNormalize(t));
    expect(y.shape).toEqual([3, 2, 5]);
    expectClose(await y.read(), normalizeRows(Float64Array.from(x), 3, 10), { rtol: 1e-5, atol: 1e-6 }, 'normalised rows');
    for (const v of [t, y]) v.dispose();
  });
});

describe("Forward-Forward's data", () => {
  it('positive images carry their label, negative ones a wrong label (uniform over the others, by step), the pixels after the label untouched', async () => {
    const [batch, classes, width] = [400, 5, 8];
    const embedding = new LabelEmbedding(device, classes, [7, 1]);
    const pixels = uniform(batch * width, 9, 2, 3);
    const labelValues = Int32Array.from({ length: batch }, (_, i) => (i * 3) % classes);
    const images = device.tensor(pixels, [batch, 1, 2, 4]);
    const labels = device.tensor(labelValues, [batch], 'i32');
    const batchAt = async (step: number) => {
      const x = device.scope(() => embedding.trainingBatch(images, labels, step));
      expect(x.shape).toEqual([2 * batch, 1, 2, 4]);
      const values = await read(x);
      x.dispose();
      return values;
    };
    const values = await batchAt(0);
    const seen = new Map<number, number>();
    for (let i = 0; i < batch; i++) {
      const positive = values.subarray(i * width, (i + 1) * width);
      const negative = values.subarray((batch + i) * width, (batch + i + 1) * width);
      expect(Array.from(positive.subarray(0, classes))).toEqual(Array.from({ length: classes }, (_, k) => (k === labelValues[i] ? 1 : 0)));
      expect(negative.subarray(0, classes).reduce((sum, v) => sum + v, 0)).toBe(1);
      const wrong = Array.from(negative.subarray(0, classes)).indexOf(1);
      expect(wrong).not.toBe(labelValues[i]);
      const offset = (wrong - labelValues[i]! + classes) % classes;
      seen.set(offset, (seen.get(offset) ?? 0) + 1);
      for (const row of [positive, negative]) expectClose(row.subarray(classes), pixels.subarray(i * width + classes, (i + 1) * width), { rtol: 0, atol: 0 }, 'pixels after the label');
    }
    // Every wrong label turns up, each about a quarter of the time (400 draws: 100 expected).
    expect([...seen.keys()].sort()).toEqual([1, 2, 3, 4]);
    for (const n of seen.values()) expect(n).toBeGreaterThan(60);
    // The same step draws the same negatives (a resume is bitwise); another step, others.
    expect(Array.from(await batchAt(0))).toEqual(Array.from(values));
    expect(Array.from(await batchAt(1))).not.toEqual(Array.from(values));
    // Each one is the label Philox's word 0 at counter [step, row] picks (shaders/negatives.wgsl
    // against src/random/philox.ts), at steps past 2^32 too.
    for (const step of [0, 7, 2 ** 32 + 3]) {
      const drawn = await batchAt(step);
      for (let i = 0; i < batch; i++) {
        const j = philox4x32([step >>> 0, Math.floor(step / 2 ** 32), i, 0], seedWords([7, 1]))[0] % (classes - 1);
        const negative = drawn.subarray((batch + i) * width, (batch + i) * width + classes);
        expect(Array.from(negative).indexOf(1), `row ${i} at step ${step}`).toBe((labelValues[i]! + 1 + j) % classes);
      }
    }
    for (const t of [images, labels]) t.dispose();
    embedding.dispose();
  });
});

describe('Forward-Forward prediction', () => {
  it('tries every label: its scores are the goodness of float64 forwards with each label written in, summed from block 2 on, and the trainer predicts their arg-max', async () => {
    const [batch, classes, width] = [6, 3, 9];
    const model = mlp(device, { inputShape: [1, 3, 3], hidden: [5, 4, 3], classes, seed: 4 });
    const trainer = new Trainer(device, model, { method: 'ff', optimizer: { kind: 'adam', lr: 1e-3 }, seed: 1 });
    const layers = await Promise.all(model.blocks.map(async (b) => Promise.all(b.layers.parameters().map((p) => read(p.value)))));
    const pixels = uniform(batch * width, 5, -1, 2);
    const forwardGoodness = (image: Float64Array, label: number): number[] => {
      let a = Float64Array.from(image);
      for (let k = 0; k < classes; k++) a[k] = k === label ? 1 : 0;
      return layers.map(([W, b]) => {
        const inWidth = a.length;
        const x = normalizeRows(a, 1, inWidth);
        const out = b!.length;
        a = Float64Array.from({ length: out }, (_, o) => Math.max(0, b![o]! + x.reduce((s, v, j) => s + v * W![o * inWidth + j]!, 0)));
        return a.reduce((s, v) => s + v * v, 0);
      });
    };
    const images = device.tensor(pixels, [batch, 1, 3, 3]);
    const embedding = new LabelEmbedding(device, classes, 0);
    const { total, perBlock } = device.scope(() => goodnessScores(model, embedding, images));
    const totals = await read(total);
    const blocks = await Promise.all(perBlock.map(read));
    const expectedTotals: number[] = [];
    for (let i = 0; i < batch; i++) {
      for (let k = 0; k < classes; k++) {
        const g = forwardGoodness(Float64Array.from(pixels.subarray(i * width, (i + 1) * width)), k);
        g.forEach((v, j) => expect(blocks[j]![i * classes + k]!).toBeCloseTo(v, 4));
        expectedTotals.push(g[1]! + g[2]!);
        expect(totals[i * classes + k]!).toBeCloseTo(g[1]! + g[2]!, 4);
      }
    }
    const labelValues = Int32Array.from({ length: batch }, (_, i) => i % classes);
    const labels = device.tensor(labelValues, [batch], 'i32');
    const { predicted, blockCorrect } = await trainer.evaluateBatch(images, labels, labelValues);
    const best = (row: number[]) => row.indexOf(Math.max(...row));
    expect(Array.from(predicted)).toEqual(Array.from({ length: batch }, (_, i) => best(expectedTotals.slice(i * classes, (i + 1) * classes))));
    expect(blockCorrect).toHaveLength(3);
    for (const t of [images, labels, total, ...perBlock]) t.dispose();
    embedding.dispose();
    trainer.dispose();
    model.dispose();
  });

  // A training run, not a kernel check: Node only (SwiftShader takes over a minute for it).
  it.skipIf(inBrowser)('learns: four noisy patterns in 64 pixels, well above chance after a short run', async () => {
    const next = rng(3);
    const [count, classes, width] = [256, 4, 64];
    const centres = Array.from({ length: classes }, () => Array.from({ length: width }, () => (next() < 0.5 ? 0 : 1)));
    const pixels = new Float32Array(count * width);
    const labelValues = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      labelValues[i] = i % classes;
      for (let j = 0; j < width; j++) pixels[i * width + j] = centres[i % classes]![j]! + (next() - 0.5) * 0.8;
    }
    const model = mlp(device, { inputShape: [1, 8, 8], hidden: [64, 64], classes, seed: 2 });
    const trainer = new Trainer(device, model, { method: 'ff', optimizer: { kind: 'adam', lr: 3e-3 }, seed: 5, metricsEvery: 50 });
    const classifierBefore = await Promise.all(model.classifier.parameters().map((p) => read(p.value)));
    for (let step = 0; step < 150; step++) {
      const start = (step * 32) % count;
      const x = device.tensor(pixels.subarray(start * width, (start + 32) * width), [32, 1, 8, 8]);
      const y = device.tensor(labelValues.subarray(start, start + 32), [32], 'i32');
      trainer.trainStep(x, y);
      x.dispose();
      y.dispose();
      if (trainer.metricsDue) {
        const metrics = await trainer.readMetrics();
        // Its blocks report their loss and pair accuracy; no classifier is trained.
        expect(metrics.units.map((u) => u.name)).toEqual(['block 1', 'block 2']);
      }
    }
    const x = device.tensor(pixels, [count, 1, 8, 8]);
    const y = device.tensor(labelValues, [count], 'i32');
    const { correct, blockCorrect } = await trainer.evaluateBatch(x, y, labelValues);
    console.log(`forward-forward: accuracy ${correct / count}, per block ${blockCorrect.map((c) => c / count).join(', ')}`);
    expect(correct / count).toBeGreaterThanOrEqual(0.9);
    // Each block's count is its own goodness's arg-max against the labels; the network's is block 2's (the only one from block 2 on).
    const scores = trainer.scores(x);
    const argmaxRows = async (t: { read(): Promise<ArrayLike<number>> }) => {
      const v = await read(t);
      return Array.from({ length: count }, (_, i) => {
        const row = Array.from(v.subarray(i * classes, (i + 1) * classes));
        return row.indexOf(Math.max(...row));
      });
    };
    for (let j = 0; j < 2; j++) expect(blockCorrect[j]).toBe((await argmaxRows(scores[j]!.logits)).filter((k, i) => k === labelValues[i]).length);
    expect(Array.from(await read(scores[2]!.logits))).toEqual(Array.from(await read(scores[1]!.logits)));
    for (const s of scores) s.logits.dispose();
    // No classifier is trained: its weights are where they started.
    const classifierAfter = await Promise.all(model.classifier.parameters().map((p) => read(p.value)));
    classifierAfter.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(classifierBefore[i]!)));
    for (const t of [x, y]) t.dispose();
    trainer.dispose();
    model.dispose();
  });
});
