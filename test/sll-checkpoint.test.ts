import { describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../src/io/safetensors.js';
import {
  buildModel,
  CheckpointError,
  classModeObjective,
  decodeCheckpoint,
  encodeCheckpoint,
  fit,
  positionOf,
  Predictor,
  restoreTrainer,
  Trainer,
  type Method,
  type TrainingSpec,
} from '../src/sll/index.js';
import type { Split } from '../src/data/datasets.js';
import { testDevice } from './helpers/device.js';
import { rng } from './helpers/numeric.js';

const device = await testDevice();

/** 200 examples of 1x4x4 in 5 noisy classes. */
function dataset(seed: number): Split {
  const next = rng(seed);
  const centers = Array.from({ length: 5 }, () => Array.from({ length: 16 }, () => next() * 4 - 2));
  const count = 200;
  const images = new Float32Array(count * 16);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 5;
    for (let k = 0; k < 16; k++) images[i * 16 + k] = centers[i % 5]![k]! + next() - 0.5;
  }
  return { images, labels, count };
}

const data = { inputShape: [1, 4, 4] as [number, number, number], classes: 5 };
const checkpointData = { name: 'blobs', ...data, mean: 0, std: 1 };

function spec(method: Method): TrainingSpec {
  return {
    method,
    model: { kind: 'mlp', hidden: [24, 12] },
    dataset: { name: 'blobs', validation: 0, augment: false },
    epochs: 3,
    batchSize: 16,
    // Adam state, a cosine schedule and dropout masks all have to resume exactly.
    optimizer: { kind: 'adam', lr: 3e-3 },
    schedule: { kind: 'cosine', warmupEpochs: 1, floor: 0 },
    objective: classModeObjective(5, { dropout: 0.2 }),
    seed: 7,
    metricsEvery: 4,
  };
}

function makeTrainer(s: TrainingSpec) {
  const model = buildModel(device, s.model, data, s.seed);
  const steps = Math.floor(200 / s.batchSize);
  const trainer = new Trainer(device, model, {
    method: s.method,
    optimizer: s.optimizer,
    schedule: { kind: 'cosine', warmupSteps: steps, totalSteps: steps * s.epochs },
    objective: () => s.objective,
    seed: s.seed,
    metricsEvery: s.metricsEvery,
  });
  return { model, trainer, steps };
}

async function weights(trainer: Trainer): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const e of trainer.parameterEntries()) out.set(e.name, (await e.value.read()) as Float32Array);
  return out;
}

describe('checkpoints', () => {
  for (const method of ['sll', 'backprop'] as const) {
    it(`${method}: stopping mid-epoch, saving, restoring into a new trainer and going on gives bitwise the weights of an uninterrupted run`, async () => {
      const s = spec(method);
      const train = dataset(1);
      const a = makeTrainer(s);
      await fit(a.trainer, train, data.inputShape, { epochs: s.epochs, batchSize: s.batchSize, seed: s.seed });
      const straight = await weights(a.trainer);

      const b = makeTrainer(s);
      const stop = new AbortController();
      await fit(b.trainer, train, data.inputShape, {
        epochs: s.epochs,
        batchSize: s.batchSize,
        seed: s.seed,
        signal: stop.signal,
        onProgress: ({ epoch, step }) => {
          if (epoch === 1 && step >= 4) stop.abort();
        },
      });
      const position = positionOf(b.trainer.step, b.steps);
      expect(position).toEqual({ epoch: 1, batch: 4 });
      const bytes = await encodeCheckpoint(b.trainer, { spec: s, data: checkpointData, position, adapter: 'test' });

      const c = makeTrainer(s);
      const checkpoint = decodeCheckpoint(bytes, 'mid.safetensors');
      expect(checkpoint.meta.position).toEqual(position);
      restoreTrainer(c.trainer, checkpoint, 'mid.safetensors');
      await fit(c.trainer, train, data.inputShape, { epochs: s.epochs, batchSize: s.batchSize, seed: s.seed, start: checkpoint.meta.position });
      const resumed = await weights(c.trainer);
      expect(c.trainer.step).toBe(a.trainer.step);
      for (const [name, w] of straight) {
        const r = resumed.get(name)!;
        expect(Buffer.from(r.buffer).equals(Buffer.from(w.buffer)), `${name} differs after resuming`).toBe(true);
      }
      // And the interrupted trainer's weights are not already the final ones (the test can fail).
      const partial = await weights(b.trainer);
      expect([...straight].some(([name, w]) => !Buffer.from(partial.get(name)!.buffer).equals(Buffer.from(w.buffer)))).toBe(true);
      for (const t of [a, b, c]) {
        t.trainer.dispose();
        t.model.dispose();
      }
    });
  }

  it('a predictor rebuilt from a checkpoint predicts what the trainer evaluates', async () => {
    const s = spec('sll');
    const train = dataset(2);
    const t = makeTrainer(s);
    await fit(t.trainer, train, data.inputShape, { epochs: 1, batchSize: s.batchSize, seed: s.seed });
    const bytes = await encodeCheckpoint(t.trainer, { spec: s, data: checkpointData, position: { epoch: 1, batch: 0 }, adapter: 'test' });
    const x = device.tensor(train.images, [train.count, ...data.inputShape]);
    const y = device.tensor(train.labels, [train.count], 'i32');
    const { correct } = await t.trainer.evaluateBatch(x, y, train.labels);
    x.dispose();
    y.dispose();
    const predictor = Predictor.fromCheckpoint(device, bytes);
    const prediction = await predictor.predict(train.images, 64);
    const agree = prediction.classes.filter((c, i) => c === train.labels[i]).length;
    expect(agree).toBe(correct);
    expect(prediction.probabilities.length).toBe(train.count * 5);
    const rowSum = prediction.probabilities.subarray(0, 5).reduce((p, q) => p + q, 0);
    expect(rowSum).toBeCloseTo(1, 5);
    predictor.dispose();
    t.trainer.dispose();
    t.model.dispose();
  });

  it('fuzz: truncated, bit-flipped and spliced checkpoints only ever raise CheckpointError (never a crash or another error)', async () => {
    const s = spec('backprop');
    const t = makeTrainer(s);
    const good = await encodeCheckpoint(t.trainer, { spec: s, data: checkpointData, position: { epoch: 0, batch: 0 }, adapter: 'test' });
    const next = rng(99);
    let refused = 0;
    for (let trial = 0; trial < 600; trial++) {
      let bytes: Uint8Array;
      const kind = trial % 3;
      if (kind === 0) bytes = good.subarray(0, Math.floor(next() * good.length));
      else if (kind === 1) {
        bytes = good.slice();
        // Flip bits in the header (where the structure is) more often than in the data.
        const headerEnd = 8 + Number(new DataView(good.buffer, good.byteOffset).getBigUint64(0, true));
        for (let f = 0; f < 1 + Math.floor(next() * 4); f++) {
          const at = next() < 0.8 ? Math.floor(next() * headerEnd) : Math.floor(next() * bytes.length);
          bytes[at]! ^= 1 << Math.floor(next() * 8);
        }
      } else {
        const cut = Math.floor(next() * good.length);
        bytes = new Uint8Array([...good.subarray(0, cut), ...Array.from({ length: Math.floor(next() * 64) }, () => Math.floor(next() * 256))]);
      }
      try {
        restoreTrainer(t.trainer, decodeCheckpoint(bytes, 'fuzz'), 'fuzz');
      } catch (error) {
        if (!(error instanceof CheckpointError)) throw new Error(`trial ${trial}: ${(error as Error).name}: ${(error as Error).message}`);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(500);
    t.trainer.dispose();
    t.model.dispose();
  });

  it('refuses checkpoints that do not fit the model, naming the tensor and the problem', async () => {
    const s = spec('sll');
    const t = makeTrainer(s);
    const good = await encodeCheckpoint(t.trainer, { spec: s, data: checkpointData, position: { epoch: 0, batch: 0 }, adapter: 'test' });
    const parsed = decodeCheckpoint(good);
    const meta = (extra: Record<string, string> = {}) => ({
      format: 'sll-webgpu-checkpoint/1',
      config: JSON.stringify(s),
      data: JSON.stringify(checkpointData),
      position: JSON.stringify({ epoch: 0, batch: 0 }),
      counters: JSON.stringify(parsed.meta.counters),
      ...extra,
    });
    const tensors = Object.fromEntries([...parsed.tensors].map(([name, v]) => [name, { dtype: v.dtype, shape: v.shape, data: v.data }]));

    const wrongShape = { ...tensors, 'block1.1.weight': { dtype: 'F32' as const, shape: [24, 15], data: new Float32Array(24 * 15) } };
    expect(() => restoreTrainer(t.trainer, decodeCheckpoint(encodeSafetensors(wrongShape, meta()), 'x.safetensors'), 'x.safetensors')).toThrow(
      /x\.safetensors: tensor 'block1\.1\.weight' has shape \[24, 15\], the model needs \[24, 16\]/,
    );
    const missing = { ...tensors };
    delete missing['classifier.bias'];
    expect(() => restoreTrainer(t.trainer, decodeCheckpoint(encodeSafetensors(missing, meta())))).toThrow(/tensor 'classifier\.bias' is missing/);
    const extra = { ...tensors, 'block9.weight': { dtype: 'F32' as const, shape: [1], data: new Float32Array(1) } };
    expect(() => restoreTrainer(t.trainer, decodeCheckpoint(encodeSafetensors(extra, meta())))).toThrow(/tensors the model does not have: block9\.weight/);
    expect(() => decodeCheckpoint(encodeSafetensors(tensors, meta({ format: 'something-else' })))).toThrow(/not an sll-webgpu checkpoint/);
    expect(() => decodeCheckpoint(encodeSafetensors(tensors, meta({ config: '{"method": "sll"' })))).toThrow(/metadata 'config' is not valid JSON/);
    expect(() => decodeCheckpoint(encodeSafetensors(tensors, meta({ config: JSON.stringify({ ...s, epochs: 0 }) })))).toThrow(/config: epochs must be a positive integer/);
    expect(() => decodeCheckpoint(good.subarray(0, good.length - 3), 'cut.safetensors')).toThrow(CheckpointError);
    t.trainer.dispose();
    t.model.dispose();
  });
});
