/**
 * The library checks what the command checks: Trainer, optimizer, fit and the training spec take
 * their rules from one place (src/sll/trainingSettings.ts, src/ops/optimizerSettings.ts,
 * src/settings/schema.ts), so each mistake below is refused with a message naming the option,
 * instead of training on something else. And every number a flag sets is checked as the kernels
 * see it, in float32, swept over float32's edges for every numeric flag.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPEC_FLAGS, specFromFlags } from '../src/cli/trainCommand.js';
import type { Device } from '../src/gpu/device.js';
import { FLOAT32_MAX, FLOAT32_MIN_NORMAL } from '../src/settings/schema.js';
import { evaluate, fit, mlp, Trainer, type TrainerConfig } from '../src/sll/index.js';
import { testDevice } from './helpers/device.js';
import { errorOf } from './helpers/fixtures.js';

let device: Device;
beforeAll(async () => {
  device = await testDevice();
});
afterAll(() => device?.close());

const good: TrainerConfig = { method: 'sll', optimizer: { kind: 'adam', lr: 1e-3 }, seed: 1 };

/** A split of `count` examples of 4 pixels, labels 0..2. */
function split(count: number, edit?: (images: Float32Array, labels: Int32Array) => void) {
  const images = new Float32Array(count * 4).map((_, i) => (i % 7) / 7);
  const labels = new Int32Array(count).map((_, i) => i % 3);
  edit?.(images, labels);
  return { images, labels, count };
}

describe('the library refuses what the command refuses', () => {
  const trainerCases: Array<[string, Partial<Record<keyof TrainerConfig, unknown>> & Record<string, unknown>, RegExp]> = [
    ['an unknown method', { method: 'foo' }, /Trainer: method must be one of sll, dgl, drtp, predsim, ff, dfa, backprop, got "foo"/],
    ['an unknown optimizer kind', { optimizer: { kind: 'rmsprop', lr: 1e-3 } }, /Trainer: optimizer: kind must be one of adam, adamw, sgd, got "rmsprop"/],
    ['a rate float32 rounds to 0', { optimizer: { kind: 'adam', lr: 1e-300 } }, /Trainer: optimizer: lr must be a number > 0 that float32 can hold, got 1e-300/],
    ['a seed of NaN', { seed: NaN }, /Trainer: seed must be an integer in \[0, 4294967295\], got NaN/],
    ['a seed of 2^40', { seed: 2 ** 40 }, /Trainer: seed must be an integer in \[0, 4294967295\], got 1099511627776/],
    ['a fractional seed', { seed: 1.5 }, /Trainer: seed must be an integer/],
    ['metricsEvery 0', { metricsEvery: 0 }, /Trainer: metricsEvery must be a positive integer, got 0/],
    ['metricsEvery -5', { metricsEvery: -5 }, /Trainer: metricsEvery must be a positive integer, got -5/],
    ['a warm-up as long as the schedule', { schedule: { kind: 'cosine', warmupSteps: 10, totalSteps: 10 } }, /Trainer: schedule\.warmupSteps \(10\) must be fewer than schedule\.totalSteps \(10\)/],
    ['an unknown schedule', { schedule: { kind: 'linear' } }, /Trainer: schedule\.kind must be one of constant, cosine, step, got "linear"/],
    ['a step schedule without milestones', { schedule: { kind: 'step' } }, /Trainer: schedule step needs milestones/],
    ['milestones that fall back', { schedule: { kind: 'step', milestones: [50, 20] } }, /Trainer: schedule\.milestones must rise, got 20 after 50/],
    ['a gamma above 1', { schedule: { kind: 'step', milestones: [5], gamma: 4 } }, /Trainer: schedule\.gamma must be a number in \(0, 1\], got 4/],
    ['an unknown option', { lr: 0.1 }, /Trainer: unknown option lr/],
    ['an objective that is not a function', { objective: { mode: 'class' } }, /Trainer: objective must be a function of the block index/],
    ["PredSim's beta above 1", { method: 'predsim', predsim: { beta: 1.5 } }, /Trainer: predsim\.beta must be a number in \[0, 1\], got 1\.5/],
    ["PredSim's beta NaN", { method: 'predsim', predsim: { beta: NaN } }, /Trainer: predsim\.beta must be a number in \[0, 1\], got NaN/],
    ['PredSim settings that are not an object', { method: 'predsim', predsim: 0.5 }, /Trainer: predsim must be an object such as \{ beta: 0\.99 \}, got 0\.5/],
    ['a misspelt PredSim setting', { method: 'predsim', predsim: { Beta: 0.5 } }, /Trainer: .*Beta.*beta/],
  ];
  it.each(trainerCases)('new Trainer with %s', (_name, change, says) => {
    const model = mlp(device, { inputShape: [1, 2, 2], classes: 3, hidden: [4], seed: 1 });
    try {
      expect(errorOf(() => new Trainer(device, model, { ...good, ...change } as TrainerConfig))).toMatch(says);
    } finally {
      model.dispose();
    }
  });

  it('mlp() refuses an activation it does not know, rather than building another', () => {
    expect(errorOf(() => mlp(device, { inputShape: [4], classes: 3, hidden: [4], seed: 1, activation: 'gelu' as never }))).toMatch(/^mlp: activation must be one of relu, tanh, leaky-relu, got "gelu"/);
  });

  const fitCases: Array<[string, Record<string, unknown>, ReturnType<typeof split>, RegExp]> = [
    ['epochs NaN', { epochs: NaN }, split(20), /fit: epochs must be a positive integer, got NaN/],
    ['epochs 0', { epochs: 0 }, split(20), /fit: epochs must be a positive integer, got 0/],
    ['a fractional batch size', { batchSize: 2.5 }, split(20), /fit: batchSize must be a positive integer, got 2\.5/],
    ['a batch larger than the data', { batchSize: 50 }, split(20), /fit: batchSize 50 is larger than the 20 examples of the split: no full batch/],
    ['a seed of -1', { seed: -1 }, split(20), /fit: seed must be an integer in \[0, 4294967295\], got -1/],
    ['a label outside the classes', {}, split(20, (_, labels) => void (labels[7] = 3)), /fit: train label 7 is 3, outside the 3 classes \[0, 2\]/],
    ['a negative label', {}, split(20, (_, labels) => void (labels[0] = -1)), /fit: train label 0 is -1, outside the 3 classes/],
    ['a NaN pixel', {}, split(20, (images) => void (images[4 * 5 + 2] = NaN)), /fit: train example 5 has a non-finite pixel \(NaN at element 2\)/],
    ['an infinite pixel', {}, split(20, (images) => void (images[3] = -Infinity)), /fit: train example 0 has a non-finite pixel \(-Infinity at element 3\)/],
    ['images of another size', {}, { ...split(20), count: 19 }, /fit: train has 80 pixel values for 19 examples of shape \[1, 2, 2\] \(76 expected\)/],
    ['a plain array for images', {}, { images: [0, 1], labels: new Int32Array(1), count: 1 } as never, /fit: train must be a Split \{ images: Float32Array, labels: Int32Array, count \}/],
  ];
  it.each(fitCases)('fit with %s', async (_name, change, data, says) => {
    const model = mlp(device, { inputShape: [1, 2, 2], classes: 3, hidden: [4], seed: 1 });
    const trainer = new Trainer(device, model, good);
    const before = device.dispatchCount;
    try {
      const error = await fit(trainer, data, [1, 2, 2], { epochs: 1, batchSize: 5, seed: 0, ...change }).then(() => 'resolved', (e: Error) => e.message);
      expect(error).toMatch(says);
      expect(trainer.step).toBe(0);
      expect(device.dispatchCount).toBe(before); // refused before anything ran
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('evaluate refuses an empty split and a bad batch size, naming them', async () => {
    const model = mlp(device, { inputShape: [1, 2, 2], classes: 3, hidden: [4], seed: 1 });
    const trainer = new Trainer(device, model, good);
    try {
      await expect(evaluate(trainer, split(0), [1, 2, 2], 5)).rejects.toThrow(/evaluate: the split holds no examples/);
      await expect(evaluate(trainer, split(10), [1, 2, 2], 0)).rejects.toThrow(/evaluate: batchSize must be a positive integer, got 0/);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });
});

describe('every numeric flag at the edges of float32', () => {
  const numeric = SPEC_FLAGS.filter((f) => f.type === 'number');
  /** The flags whose range is [0, 1): a value float32 rounds up to 1 is outside it. */
  const BELOW_ONE = ['beta1', 'beta2', 'dropout'];
  const edges = [FLOAT32_MAX * 2, 1e300, -1e300, FLOAT32_MAX, 1e-300, -1e-300, FLOAT32_MIN_NORMAL / 2, 5e-324, FLOAT32_MIN_NORMAL, 0.99999999, 1 - 2 ** -30];
  /** The flags a numeric flag needs beside it to apply (its variant). */
  const context = (name: string): Record<string, unknown> => {
    const flag = SPEC_FLAGS.find((f) => f.name === name)!;
    if (!flag.when) return {};
    const chooser = SPEC_FLAGS.find((f) => f.path === flag.when!.path)!;
    // A step schedule needs its milestones beside it, whatever its gamma.
    return { [chooser.name]: flag.when.values[0], ...(flag.when.values[0] === 'step' ? { milestones: [5] } : {}) };
  };

  it('covers every number the spec takes', () => {
    expect(numeric.map((f) => f.name)).toEqual(expect.arrayContaining(['lr', 'tau', 'dropout', 'beta1', 'beta2', 'eps', 'weight-decay', 'momentum', 'warmup', 'gamma', 'beta', 'mlp-ratio', 'likelihood-weight', 'alignment-weight']));
  });

  for (const flag of numeric) {
    it(`--${flag.name}: a value float32 cannot hold is refused naming the flag; one it holds is judged as float32 holds it`, () => {
      for (const value of edges) {
        let message = '';
        try {
          specFromFlags({ ...context(flag.name), [flag.name]: value, epochs: 20 } as never, { classes: 10, trainCount: 8000, datasetName: 'digits' });
        } catch (error) {
          message = (error as Error).message;
        }
        const named = new RegExp(`^--${flag.name} `);
        if (value < 0 || !Number.isFinite(Math.fround(value))) {
          // Below every flag's range, or past float32: refused, naming the flag.
          expect(message, `--${flag.name} ${value}`).toMatch(named);
        } else if (value > 0 && value < FLOAT32_MIN_NORMAL) {
          // Inside every flag's range as a real number, but 0 to the kernels: said so.
          expect(message, `--${flag.name} ${value}`).toMatch(new RegExp(`^--${flag.name} .*below float32's smallest normal number`));
        } else if (Math.fround(value) === 1 && value < 1 && BELOW_ONE.includes(flag.name)) {
          // Below 1 as typed, 1 as the kernels see it: refused as 1 is, and said so.
          expect(message).toMatch(/which is 1 in float32/);
        } else if (message !== '') {
          expect(message, `--${flag.name} ${value}`).toMatch(named);
        }
      }
    });
  }
});
