import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../src/io/safetensors.js';
import {
  buildModel,
  CheckpointError,
  classModeObjective,
  decodeCheckpoint,
  encodeCheckpoint,
  fit,
  NonFiniteWeightsError,
  positionOf,
  Predictor,
  readCheckpoint,
  restoreTrainer,
  Trainer,
  type Method,
  type TrainingSpec,
} from '../src/sll/index.js';
import type { Split } from '../src/data/datasets.js';
import { resealMetadata } from './helpers/checkpoint.js';
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

/**
 * The models the resume test runs on: the MLP (with or without batch norm, or as PredSim's
 * authors' blocks: batch norm, LeakyReLU and block dropout), a one-stage CNN and a two-block ViT.
 */
type TestModel = 'mlp' | 'mlp-bn' | 'mlp-predsim' | 'cnn' | 'vit';
const MODELS: Record<TestModel, TrainingSpec['model']> = {
  mlp: { kind: 'mlp', hidden: [24, 12] },
  'mlp-bn': { kind: 'mlp', hidden: [24, 12], batchNorm: true },
  'mlp-predsim': { kind: 'mlp', hidden: [24, 12], batchNorm: true, activation: 'leaky-relu', dropout: 0.2 },
  cnn: { kind: 'cnn', channels: [4], convsPerStage: 1, hidden: 8, stageFeatures: 'flatten' },
  vit: { kind: 'vit', patch: 2, dim: 8, depth: 2, heads: 2, mlpRatio: 2, pooling: 'mean-token' },
};

function spec(method: Method, batchNorm = false, model: TestModel = batchNorm ? 'mlp-bn' : 'mlp'): TrainingSpec {
  return {
    method,
    model: MODELS[model],
    dataset: { name: 'blobs', validation: 0, augment: false, augmentPad: 4, normalize: true },
    epochs: 3,
    batchSize: 16,
    predsim: { beta: 0.99 },
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
  // With batch norm, the running statistics are part of what must resume (and of what is
  // compared): the MLP's blocks', and those of DGL's auxiliary nets on a conv stage.
  const cases: Array<[Method, TestModel]> = [
    ['sll', 'mlp'], ['dgl', 'mlp'], ['drtp', 'mlp'], ['predsim', 'mlp'], ['ff', 'mlp'], ['dfa', 'mlp'], ['backprop', 'mlp'], ['predsim', 'mlp-bn'], ['backprop', 'mlp-bn'],
    ['predsim', 'mlp-predsim'], ['sll', 'mlp-predsim'], ['backprop', 'mlp-predsim'],
    ['dgl', 'cnn'], ['predsim', 'cnn'], ['drtp', 'cnn'], ['dgl', 'vit'], ['predsim', 'vit'],
  ];
  for (const [method, model] of cases) {
    it(`${method}, ${model === 'mlp-bn' ? 'MLP with batch norm' : model === 'mlp-predsim' ? "MLP of PredSim's blocks (block dropout)" : model.toUpperCase()}: stopping mid-epoch, saving, restoring into a new trainer and going on gives bitwise the weights of an uninterrupted run`, async () => {
      const s = spec(method, false, model);
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
      const checkpoint = await readCheckpoint(bytes, 'mid.safetensors');
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

  it.each([false, true])('a predictor rebuilt from a checkpoint predicts what the trainer evaluates (batch norm: %s)', async (batchNorm) => {
    const s = spec('sll', batchNorm);
    const train = dataset(2);
    const t = makeTrainer(s);
    await fit(t.trainer, train, data.inputShape, { epochs: 1, batchSize: s.batchSize, seed: s.seed });
    const bytes = await encodeCheckpoint(t.trainer, { spec: s, data: checkpointData, position: { epoch: 1, batch: 0 }, adapter: 'test' });
    const x = device.tensor(train.images, [train.count, ...data.inputShape]);
    const y = device.tensor(train.labels, [train.count], 'i32');
    const { correct } = await t.trainer.evaluateBatch(x, y, train.labels);
    x.dispose();
    y.dispose();
    const predictor = await Predictor.fromCheckpoint(device, bytes);
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
        restoreTrainer(t.trainer, await readCheckpoint(bytes, 'fuzz'), 'fuzz');
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

describe('checkpoint integrity', () => {
  /** A checkpoint after an epoch of training, so that it holds Adam's m and v too. */
  let trainedBytes: Promise<Uint8Array> | undefined;
  const trained = () =>
    (trainedBytes ??= (async () => {
      const s = spec('sll');
      const t = makeTrainer(s);
      await fit(t.trainer, dataset(3), data.inputShape, { epochs: 1, batchSize: s.batchSize, seed: s.seed });
      const bytes = await encodeCheckpoint(t.trainer, { spec: s, data: checkpointData, position: { epoch: 1, batch: 0 }, adapter: 'test' });
      t.trainer.dispose();
      t.model.dispose();
      return bytes;
    })());

  /** SHA-256 by node:crypto, independent of the Web Crypto code under test. */
  const sha256 = (data: ArrayBufferView) => createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');

  type Inputs = Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>;
  /**
   * The checkpoint's tensors and metadata, changed by `change`, encoded again, as if written so:
   * changes to `digests` are written back to metadata 'sha256' unless `change` set or removed
   * that itself, and the metadata digest is sealed again unless `change` touched it (or
   * `reseal: false`: damage after writing).
   */
  function reencode(
    bytes: Uint8Array,
    change: (tensors: Inputs, metadata: Record<string, string>, digests: Record<string, string>) => void,
    { reseal = true } = {},
  ): Uint8Array {
    const { tensors, metadata } = decodeSafetensors(bytes);
    const inputs = Object.fromEntries([...tensors].map(([name, t]) => [name, { dtype: 'F32' as const, shape: t.shape, data: t.data as Float32Array }]));
    const before = metadata.sha256;
    const sealed = metadata.metadataSha256;
    const digests = before !== undefined ? (JSON.parse(before) as Record<string, string>) : {};
    change(inputs, metadata, digests);
    if (before !== undefined && metadata.sha256 === before) metadata.sha256 = JSON.stringify(digests);
    if (reseal && sealed !== undefined && metadata.metadataSha256 === sealed) resealMetadata(metadata);
    return encodeSafetensors(inputs, metadata);
  }

  it('refuses to write a checkpoint of non-finite weights, naming the tensor, so the one on disk stays the last good one', async () => {
    const s = spec('sll');
    const t = makeTrainer(s);
    try {
      const weight = t.trainer.parameterEntries()[0]!;
      const values = (await weight.value.read()) as Float32Array;
      values[3] = Number.POSITIVE_INFINITY;
      device.upload(weight.value, values);
      const meta = { spec: s, data: checkpointData, position: { epoch: 0, batch: 0 }, adapter: 'test' };
      await expect(encodeCheckpoint(t.trainer, meta)).rejects.toThrow(NonFiniteWeightsError);
      await expect(encodeCheckpoint(t.trainer, meta)).rejects.toThrow(`tensor '${weight.name}' holds Infinity at index 3: the checkpoint was not written`);
    } finally {
      t.trainer.dispose();
      t.model.dispose();
    }
  });

  it('refuses metadata kernels of the wrong shape', async () => {
    const bad = reencode(await trained(), (_tensors, metadata) => void (metadata.kernels = '{}'));
    expect(() => decodeCheckpoint(bad, 'k.safetensors')).toThrow("k.safetensors: metadata 'kernels' must hold software, matmul { large, thin }");
  });

  it('writes format /3 with the SHA-256 of every tensor, weights and optimizer state, and of the metadata, which reads back verified', async () => {
    const bytes = await trained();
    const raw = decodeSafetensors(bytes);
    expect(raw.metadata.format).toBe('sll-webgpu-checkpoint/3');
    const resealed = { ...raw.metadata };
    resealMetadata(resealed);
    expect(raw.metadata.metadataSha256).toBe(resealed.metadataSha256);
    const digests = JSON.parse(raw.metadata.sha256!) as Record<string, string>;
    expect(Object.keys(digests).sort()).toEqual([...raw.tensors.keys()].sort());
    expect(digests['block1.1.weight#m']).toBeDefined();
    for (const [name, t] of raw.tensors) expect(digests[name], name).toBe(sha256(t.data));
    const checkpoint = await readCheckpoint(bytes, 'good.safetensors');
    expect(checkpoint.meta.format).toBe('sll-webgpu-checkpoint/3');
    expect(checkpoint.notices).toEqual([]);
    expect(Object.fromEntries(checkpoint.digests!)).toEqual(digests);
    const t = makeTrainer(spec('sll'));
    restoreTrainer(t.trainer, checkpoint, 'good.safetensors');
    expect(t.trainer.step).toBe(t.steps);
    t.trainer.dispose();
    t.model.dispose();
  });

  it('refuses a tensor with a flipped byte, naming the tensor and the file', async () => {
    const bytes = await trained();
    const headerBytes = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerBytes))) as Record<string, { data_offsets: [number, number] }>;
    for (const name of ['block1.1.weight', 'classifier.bias#v']) {
      const bad = bytes.slice();
      // The lowest mantissa bit of element 3: the value stays finite, only the digest can tell.
      bad[8 + headerBytes + header[name]!.data_offsets[0] + 4 * 3]! ^= 1;
      expect(decodeCheckpoint(bad, 'flipped.safetensors').tensors.size).toBe(Object.keys(header).length - 1);
      const quoted = name.replace(/[.#]/g, '\\$&');
      await expect(readCheckpoint(bad, 'flipped.safetensors')).rejects.toThrow(new RegExp(`^flipped\\.safetensors: tensor '${quoted}' does not match its sha256 digest`));
    }
    const bad = bytes.slice();
    bad[bytes.length - 1]! ^= 0x40;
    await expect(Predictor.fromCheckpoint(device, bad, 'flipped.safetensors')).rejects.toThrow(CheckpointError);
  });

  it('refuses NaN and infinite weights and optimizer state even under a valid digest, naming the tensor and the index', async () => {
    const bytes = await trained();
    const cases: Array<[string, number, number]> = [['block1.1.weight', 5, NaN], ['classifier.bias#v', 2, -Infinity], ['block1.1.bias#m', 0, Infinity]];
    for (const [name, index, value] of cases) {
      const bad = reencode(bytes, (tensors, _, digests) => {
        tensors[name]!.data[index] = value;
        digests[name] = sha256(tensors[name]!.data);
      });
      const size = decodeSafetensors(bad).tensors.get(name)!.data.length;
      await expect(readCheckpoint(bad, 'nan.safetensors'), name).rejects.toThrow(`nan.safetensors: tensor '${name}' holds ${value} at index ${index} (of ${size})`);
    }
  });

  it('loads a format /1 checkpoint, which has no digests, with one notice that it carries no checksums', async () => {
    const bytes = await trained();
    const old = reencode(bytes, (_, metadata) => {
      metadata.format = 'sll-webgpu-checkpoint/1';
      delete metadata.sha256;
      delete metadata.metadataSha256;
    });
    const checkpoint = await readCheckpoint(old, 'old.safetensors');
    expect(checkpoint.meta.format).toBe('sll-webgpu-checkpoint/1');
    expect(checkpoint.digests).toBeUndefined();
    expect(checkpoint.notices).toEqual(['old.safetensors: a checkpoint of format sll-webgpu-checkpoint/1 carries no checksums; its weights are loaded unverified']);
    const t = makeTrainer(spec('sll'));
    restoreTrainer(t.trainer, checkpoint, 'old.safetensors');
    t.trainer.dispose();
    t.model.dispose();
    const notices: string[] = [];
    const predictor = await Predictor.fromCheckpoint(device, old, 'old.safetensors', { onNotice: (text) => notices.push(text) });
    expect(notices).toEqual(checkpoint.notices);
    predictor.dispose();
    // Non-finite values are refused in a /1 checkpoint too.
    const nan = reencode(old, (tensors) => {
      tensors['classifier.weight']!.data[1] = NaN;
    });
    await expect(readCheckpoint(nan, 'old.safetensors')).rejects.toThrow(`old.safetensors: tensor 'classifier.weight' holds NaN at index 1`);
  });

  it('refuses metadata changed after the checkpoint was written (a learning rate, a position, a digest list), naming the metadata', async () => {
    const bytes = await trained();
    const changes: Array<(metadata: Record<string, string>) => void> = [
      (metadata) => (metadata.config = metadata.config!.replace(/"lr":([-+.e\d]+)/, (_, lr: string) => `"lr":${2 * Number(lr)}`)),
      (metadata) => (metadata.position = JSON.stringify({ ...JSON.parse(metadata.position!), batch: 1 })),
      (metadata) => (metadata.adapter = `${metadata.adapter} `),
      (metadata) => (metadata.extra = 'x'),
    ];
    for (const change of changes) {
      const bad = reencode(bytes, (_, metadata) => change(metadata), { reseal: false });
      expect(decodeCheckpoint(bad, 'edited.safetensors').meta.format).toBe('sll-webgpu-checkpoint/3');
      await expect(readCheckpoint(bad, 'edited.safetensors')).rejects.toThrow(/^edited\.safetensors: its metadata \(spec, data, position, counters, digests\) do not match their sha256 digest \(stored [0-9a-f]{64}, text gives [0-9a-f]{64}\): the file was damaged after it was written$/);
    }
    expect(decodeSafetensors(bytes).metadata.config).toMatch(/"lr":[-+.e\d]+/); // so the first edit changed something
    // Relabelled as an older format (a byte's change), the file still carries its digests, which
    // are checked: the label itself is metadata under the digest.
    for (const older of ['sll-webgpu-checkpoint/2', 'sll-webgpu-checkpoint/1']) {
      const relabelled = reencode(bytes, (_, metadata) => void (metadata.format = older), { reseal: false });
      await expect(readCheckpoint(relabelled, 'relabelled.safetensors'), older).rejects.toThrow(/^relabelled\.safetensors: its metadata .* do not match their sha256 digest/);
    }
    const missing = reencode(bytes, (_, metadata) => void delete metadata.metadataSha256);
    expect(() => decodeCheckpoint(missing, 'm.safetensors')).toThrow("m.safetensors: metadata 'metadataSha256' is missing");
    const malformed = reencode(bytes, (_, metadata) => void (metadata.metadataSha256 = 'abc'));
    expect(() => decodeCheckpoint(malformed, 'm.safetensors')).toThrow(`m.safetensors: metadata 'metadataSha256' is "abc", not 64 lowercase hex digits`);
  });

  it('loads a format /2 checkpoint, whose metadata have no digest, with one notice saying so', async () => {
    const old = reencode(await trained(), (_, metadata) => {
      metadata.format = 'sll-webgpu-checkpoint/2';
      delete metadata.metadataSha256;
    });
    const checkpoint = await readCheckpoint(old, 'two.safetensors');
    expect(checkpoint.meta.format).toBe('sll-webgpu-checkpoint/2');
    expect(checkpoint.digests!.size).toBe(checkpoint.tensors.size);
    expect(checkpoint.notices).toEqual(['two.safetensors: a checkpoint of format sll-webgpu-checkpoint/2 carries no checksum of its metadata; its metadata (spec, data, position, counters, digests) are loaded unverified']);
    // Its tensors are still verified, even relabelled as /1 (which has no digests of its own).
    const bad = reencode(old, (tensors) => void (tensors['classifier.bias']!.data[0]! += 1));
    await expect(readCheckpoint(bad, 'two.safetensors')).rejects.toThrow("two.safetensors: tensor 'classifier.bias' does not match its sha256 digest");
    const relabelled = reencode(bad, (_, metadata) => void (metadata.format = 'sll-webgpu-checkpoint/1'));
    await expect(readCheckpoint(relabelled, 'two.safetensors')).rejects.toThrow("two.safetensors: tensor 'classifier.bias' does not match its sha256 digest");
  });

  it('refuses a /3 checkpoint whose digests are missing, miss a tensor, name an unknown one or are malformed', async () => {
    const bytes = await trained();
    const cases: Array<[(metadata: Record<string, string>, digests: Record<string, string>) => void, string]> = [
      [(metadata) => delete metadata.sha256, `bad.safetensors: metadata 'sha256' is missing`],
      [(_, digests) => delete digests['classifier.bias'], `bad.safetensors: tensor 'classifier.bias' has no digest in metadata 'sha256'`],
      [(_, digests) => (digests['block9.weight'] = '0'.repeat(64)), `bad.safetensors: metadata 'sha256' has a digest for 'block9.weight', which is not a tensor in the file`],
      [(_, digests) => (digests['classifier.bias'] = digests['classifier.bias']!.toUpperCase()), `bad.safetensors: metadata 'sha256' of 'classifier.bias' is`],
      [(metadata) => (metadata.sha256 = '[]'), `bad.safetensors: metadata 'sha256' must be an object of tensor name to SHA-256 digest`],
    ];
    for (const [change, message] of cases) {
      const bad = reencode(bytes, (_, metadata, digests) => change(metadata, digests));
      await expect(readCheckpoint(bad, 'bad.safetensors'), message).rejects.toThrow(message);
    }
  });
});
