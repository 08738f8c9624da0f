/**
 * The MLP's block dropout (PredSim's authors' blocks: dropout on what a block passes on, its
 * local loss reading the output before it): where the dropout layers sit, that a block's own
 * step never sees its dropout while the next block and the classifier do, and that evaluation
 * is deterministic. Bitwise resume with the masks' streams is in test/sll-checkpoint.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Dropout } from '../src/nn/dropout.js';
import { mlp, Trainer, type Method } from '../src/sll/index.js';
import { testDevice } from './helpers/device.js';
import { rng } from './helpers/numeric.js';

const device = await testDevice();
const inputShape = [1, 4, 4] as const;
const hidden = [24, 12];

function batch(seed: number) {
  const next = rng(seed);
  const x = device.tensor(Float32Array.from({ length: 16 * 16 }, () => next() * 2 - 1), [16, ...inputShape]);
  const y = device.tensor(Int32Array.from({ length: 16 }, (_, i) => i % 5), [16], 'i32');
  return { x, y };
}

/**
 * Every trained tensor after one step of `method` on the same batch, with block dropout p, in the
 * trainer's order (the same with and without dropout; the names of later blocks shift by the
 * dropout layer in front of them).
 */
async function afterOneStep(method: Method, p: number): Promise<Array<{ name: string; value: Float32Array }>> {
  const model = mlp(device, { inputShape: [...inputShape], classes: 5, seed: 3, hidden, batchNorm: true, activation: 'leaky-relu', dropout: p });
  const trainer = new Trainer(device, model, { method, optimizer: { kind: 'adam', lr: 1e-2 }, seed: 3 });
  const { x, y } = batch(1);
  try {
    trainer.trainStep(x, y);
    const out: Array<{ name: string; value: Float32Array }> = [];
    for (const e of trainer.parameterEntries()) out.push({ name: e.name, value: (await e.value.read()) as Float32Array });
    return out;
  } finally {
    x.dispose();
    y.dispose();
    trainer.dispose();
    model.dispose();
  }
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

describe('MLP block dropout', () => {
  it('puts a dropout layer in front of every block after the first and of the classifier, none at p = 0', () => {
    const model = mlp(device, { inputShape: [...inputShape], classes: 5, seed: 1, hidden: [8, 8, 8], dropout: 0.25 });
    try {
      const layers = model.dropoutLayers();
      expect(layers).toHaveLength(3);
      expect(layers.every((d) => d instanceof Dropout && d.p === 0.25)).toBe(true);
      expect(model.name).toBe('mlp 16-8-8-8-5 (dropout 0.25)');
    } finally {
      model.dispose();
    }
    const plain = mlp(device, { inputShape: [...inputShape], classes: 5, seed: 1, hidden: [8, 8, 8] });
    expect(plain.dropoutLayers()).toHaveLength(0);
    plain.dispose();
  });

  it('refuses a p outside [0, 1)', () => {
    expect(() => mlp(device, { inputShape: [...inputShape], classes: 5, seed: 1, dropout: 1 })).toThrow(/mlp: dropout must be in \[0, 1\), got 1/);
    expect(() => mlp(device, { inputShape: [...inputShape], classes: 5, seed: 1, dropout: -0.1 })).toThrow(/mlp: dropout must be in \[0, 1\), got -0\.1/);
  });

  for (const method of ['predsim', 'sll', 'dgl'] as const) {
    it(`${method}: block 1's step reads its output before the dropout (bitwise the step without it); block 2 and the classifier see dropped inputs`, async () => {
      const dropped = await afterOneStep(method, 0.5);
      const plain = await afterOneStep(method, 0);
      expect(dropped.length).toBe(plain.length);
      const changed = dropped.filter((e, i) => !same(e.value, plain[i]!.value)).map((e) => e.name);
      // Nothing of block 1 (its layers and its local head) differs; something of block 2 and of the classifier does.
      expect(changed.filter((name) => name.startsWith('block1.'))).toEqual([]);
      expect(changed.some((name) => name.startsWith('block2'))).toBe(true);
      expect(changed.some((name) => name.startsWith('classifier'))).toBe(true);
    });
  }

  it('backprop: every layer below a dropout sees its masked gradient', async () => {
    const dropped = await afterOneStep('backprop', 0.5);
    const plain = await afterOneStep('backprop', 0);
    for (const name of ['block1.1.0.weight', 'block2.1.0.weight', 'classifier.weight']) {
      const at = dropped.findIndex((e) => e.name === name);
      expect(at, `no tensor ${name}`).toBeGreaterThanOrEqual(0);
      expect(same(dropped[at]!.value, plain[at]!.value), name).toBe(false);
    }
  });

  it('evaluates without dropout: two evaluations of a trained model agree bitwise', async () => {
    const model = mlp(device, { inputShape: [...inputShape], classes: 5, seed: 2, hidden, dropout: 0.5 });
    const trainer = new Trainer(device, model, { method: 'predsim', optimizer: { kind: 'adam', lr: 1e-2 }, seed: 2 });
    const { x, y } = batch(4);
    try {
      trainer.trainStep(x, y);
      const labels = Int32Array.from({ length: 16 }, (_, i) => i % 5);
      const a = await trainer.evaluateBatch(x, y, labels);
      const b = await trainer.evaluateBatch(x, y, labels);
      expect(b).toEqual(a);
    } finally {
      x.dispose();
      y.dispose();
      trainer.dispose();
      model.dispose();
    }
  });
});
