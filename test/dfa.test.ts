/**
 * DFA, Direct Feedback Alignment, the labelled extra: a block's learning signal is the output
 * error e = dL/dlogits through its fixed matrix B, held to a float64 product; a step moves every
 * block as the block's own backward from e B does, e being the output error of that step's
 * forward (nothing chained from the block above); and the spec keeps it to the MLP.
 */
import { describe, expect, it } from 'vitest';
import { crossEntropy } from '../src/ops/loss.js';
import { DfaFeedback, mlp, resolveTrainingSpec, SpecError, Trainer } from '../src/sll/index.js';
import { testDevice } from './helpers/device.js';
import { expectClose, uniform } from './helpers/numeric.js';

const device = await testDevice();

describe("DFA's learning signal", () => {
  it.each([
    ['batch 5, 7 features, 4 classes', 5, 7, 4],
    ['batch 1, 1 feature, 2 classes', 1, 1, 2],
    ['batch 130, 33 features, 10 classes', 130, 33, 10],
  ] as const)('%s: dL/dh is e B (float64)', async (_, batch, d, classes) => {
    const feedback = new DfaFeedback(device, { classes, features: d, seed: [9, 2] });
    const B = Array.from(await feedback.projection.read());
    // B is kaiming-uniform on [K, d], as DRTP's: inside +-sqrt(6 / d), not all one value.
    expect(B.every((v) => Math.abs(v) <= Math.sqrt(6 / d))).toBe(true);
    expect(new Set(B).size).toBeGreaterThan(1);
    const e = uniform(batch * classes, 3, -1, 1);
    const expected = new Float64Array(batch * d);
    for (let r = 0; r < batch; r++) for (let k = 0; k < classes; k++) for (let j = 0; j < d; j++) expected[r * d + j]! += e[r * classes + k]! * B[k * d + j]!;
    const te = device.tensor(e, [batch, classes]);
    const signal = feedback.signal(te);
    expectClose(await signal.read(), expected, { rtol: 1e-5, atol: 1e-6 }, 'dL/dh');
    for (const t of [te, signal]) t.dispose();
    feedback.dispose();
  });

  it("a DFA step moves every block as the block's own backward from e B does, e the output error of the step's forward", async () => {
    const batch = 6;
    const images = uniform(batch * 5, 4, -1, 1);
    const labels = [2, 0, 1, 1, 0, 2];
    const model = mlp(device, { inputShape: [5], hidden: [4, 3], classes: 3, seed: 13 });
    const twin = mlp(device, { inputShape: [5], hidden: [4, 3], classes: 3, seed: 13 });
    const trainer = new Trainer(device, model, { method: 'dfa', optimizer: { kind: 'sgd', lr: 0.1 }, seed: 6 });
    expect(trainer.feedback).toHaveLength(2);
    const x = device.tensor(images, [batch, 5]);
    const y = device.tensor(labels, [batch], 'i32');
    // By hand on the twin: the forward, the output error, then each block's backward from e B.
    const h1 = twin.blocks[0]!.layers.forward(x, { training: true });
    const h2 = twin.blocks[1]!.layers.forward(h1, { training: true });
    const e = crossEntropy(twin.classifier.forward(h2, { training: false }), y).grad;
    const expected: number[][][] = [];
    for (const i of [1, 0]) {
      const block = twin.blocks[i]!.layers;
      const grads = block.backward(trainer.feedback[i]!.signal(e), { inputGradient: false });
      const before = await Promise.all(block.parameters().map(async (p) => Array.from(await p.value.read())));
      expected[i] = await Promise.all(grads.params.map(async (g, j) => Array.from(await g.read()).map((v, k) => before[j]![k]! - 0.1 * v)));
    }
    trainer.trainStep(x, y);
    for (const i of [0, 1]) {
      const after = await Promise.all(model.blocks[i]!.layers.parameters().map(async (p) => Array.from(await p.value.read())));
      after.forEach((values, j) => expectClose(values, expected[i]![j]!, { rtol: 1e-5, atol: 1e-6 }, `block ${i + 1} parameter ${j}`));
    }
    for (const o of [trainer, model, twin]) o.dispose();
    for (const t of [x, y, h1, h2, e]) t.dispose();
  });

  it('trains MLP blocks only: the spec refuses it on the CNN and the ViT, saying why', () => {
    for (const kind of ['cnn', 'vit'] as const) {
      const refused = (() => {
        try {
          resolveTrainingSpec({ method: 'dfa', model: { kind }, dataset: { validation: 0 } }, { classes: 10 });
        } catch (error) {
          return error;
        }
      })();
      expect(refused).toBeInstanceOf(SpecError);
      expect(String((refused as Error).message)).toMatch(/dfa trains MLP blocks only: it is here as a labelled extra beside the local rules/);
    }
  });
});
