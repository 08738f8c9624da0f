/**
 * Checkpoints in the safetensors format: every trained tensor (blocks, local heads, classifier)
 * and its optimizer state as F32 tensors, and in `__metadata__` the training spec, the data's
 * shape and normalization, the position in training and the trainer's counters, each a JSON
 * string. The fixed projections are not stored: they are regenerated from the seed.
 *
 * Bytes in, bytes out (browser-safe): writing a file atomically is src/io/files.ts's job.
 * A checkpoint is untrusted input: the container is validated by decodeSafetensors, then
 * every tensor's name, dtype and shape is checked against the model the metadata rebuilds.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type SafetensorsTensor, type SafetensorsTensorInput } from '../io/safetensors.js';
import type { Position } from './fit.js';
import type { Model } from './model.js';
import { buildModel, checkTrainingSpec, type TrainingSpec } from './spec.js';
import type { Trainer, TrainerCounters } from './trainer.js';

export const CHECKPOINT_FORMAT = 'sll-webgpu-checkpoint/1';

/** What a checkpoint knows about its data: enough to rebuild the model and normalize new images. */
export interface CheckpointData {
  name: string;
  inputShape: [number, number, number];
  classes: number;
  /** The normalization of the training pixels ([0, 1]-scaled), applied before the model. */
  mean: number;
  std: number;
  classNames?: string[];
}

export interface CheckpointMeta {
  format: string;
  spec: TrainingSpec;
  data: CheckpointData;
  /** The next batch to train. */
  position: Position;
  counters: TrainerCounters;
  /** Adapter it was saved on (bitwise resumption holds on the same adapter). */
  adapter: string;
  savedAt: string;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  tensors: Map<string, SafetensorsTensor>;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** Reads every trained tensor and its optimizer state back from the GPU and packs them. */
export async function encodeCheckpoint(trainer: Trainer, meta: Omit<CheckpointMeta, 'format' | 'counters' | 'savedAt'>): Promise<Uint8Array> {
  const tensors: Record<string, SafetensorsTensorInput> = {};
  for (const entry of trainer.parameterEntries()) {
    tensors[entry.name] = { dtype: 'F32', shape: [...entry.value.shape], data: (await entry.value.read()) as Float32Array };
    const optimizer = trainer.optimizerOf(entry.unit);
    const slots = optimizer.stateOf(entry.value);
    for (let s = 0; s < slots.length; s++) {
      tensors[`${entry.name}#${optimizer.slotNames[s]}`] = { dtype: 'F32', shape: [...entry.value.shape], data: (await slots[s]!.read()) as Float32Array };
    }
  }
  const full: CheckpointMeta = { format: CHECKPOINT_FORMAT, ...meta, counters: trainer.counters(), savedAt: new Date().toISOString() };
  return encodeSafetensors(tensors, {
    format: full.format,
    config: JSON.stringify(full.spec),
    data: JSON.stringify(full.data),
    position: JSON.stringify(full.position),
    counters: JSON.stringify(full.counters),
    adapter: full.adapter,
    savedAt: full.savedAt,
  });
}

/**
 * Parses and checks a checkpoint's container and metadata (not yet its tensors against a
 * model: `restoreTrainer` and `loadModel` do that). `source` names the file in errors.
 */
export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Checkpoint {
  let decoded;
  try {
    decoded = decodeSafetensors(bytes, { source });
  } catch (error) {
    if (error instanceof SafetensorsError) throw new CheckpointError(error.message);
    throw error;
  }
  const md = decoded.metadata;
  if (md.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`${source}: not an sll-webgpu checkpoint (metadata format ${JSON.stringify(md.format)}, expected ${CHECKPOINT_FORMAT})`);
  }
  const json = (key: string): unknown => {
    const text = md[key];
    if (text === undefined) throw new CheckpointError(`${source}: metadata '${key}' is missing`);
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new CheckpointError(`${source}: metadata '${key}' is not valid JSON (${(error as Error).message})`);
    }
  };
  const data = json('data') as CheckpointData;
  checkData(data, source);
  let spec: TrainingSpec;
  try {
    spec = checkTrainingSpec(json('config') as TrainingSpec, data.classes);
  } catch (error) {
    throw new CheckpointError(`${source}: ${(error as Error).message}`);
  }
  const position = json('position') as Position;
  if (!isCount(position?.epoch) || !isCount(position?.batch)) throw new CheckpointError(`${source}: metadata 'position' must hold epoch and batch counts`);
  const counters = json('counters') as TrainerCounters;
  if (!isCount(counters?.step) || !isCountList(counters.optimizerSteps) || !isCountList(counters.dropoutOffsets)) {
    throw new CheckpointError(`${source}: metadata 'counters' must hold step, optimizerSteps and dropoutOffsets counts`);
  }
  return {
    meta: { format: CHECKPOINT_FORMAT, spec, data, position, counters, adapter: md.adapter ?? 'unknown', savedAt: md.savedAt ?? 'unknown' },
    tensors: decoded.tensors,
  };
}

/**
 * Puts a checkpoint's weights, optimizer state and counters into a trainer built from the same
 * spec (same model, method and optimizer). Every tensor is checked before anything is written.
 */
export function restoreTrainer(trainer: Trainer, checkpoint: Checkpoint, source = 'checkpoint'): void {
  const entries = trainer.parameterEntries();
  const expected = new Set<string>();
  const plan: Array<() => void> = [];
  for (const entry of entries) {
    const optimizer = trainer.optimizerOf(entry.unit);
    const values = takeF32(checkpoint, entry.name, entry.value.shape, source);
    expected.add(entry.name);
    // State exists once a parameter has had a step; a checkpoint from step 0 has none.
    const slotValues = optimizer.slotNames.map((slot) => {
      const name = `${entry.name}#${slot}`;
      if (!checkpoint.tensors.has(name)) return undefined;
      expected.add(name);
      return takeF32(checkpoint, name, entry.value.shape, source);
    });
    const present = slotValues.filter((v) => v !== undefined);
    if (present.length !== 0 && present.length !== slotValues.length) {
      throw new CheckpointError(`${source}: optimizer state of '${entry.name}' is incomplete (needs ${optimizer.slotNames.join(', ')})`);
    }
    plan.push(() => {
      entry.value.device.upload(entry.value, values);
      if (present.length > 0) optimizer.loadState(entry.value, present as Float32Array[]);
    });
  }
  const extra = [...checkpoint.tensors.keys()].filter((name) => !expected.has(name));
  if (extra.length > 0) throw new CheckpointError(`${source}: tensors the model does not have: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? `, ... (${extra.length})` : ''}`);
  try {
    trainer.restoreCounters(checkpoint.meta.counters);
  } catch (error) {
    throw new CheckpointError(`${source}: ${(error as Error).message}`);
  }
  for (const step of plan) step();
}

/** Rebuilds the model a checkpoint was saved from and loads its weights (for prediction). */
export function loadModel(device: Device, checkpoint: Checkpoint, source = 'checkpoint'): Model {
  const { spec, data } = checkpoint.meta;
  const model = buildModel(device, spec.model, data, spec.seed);
  try {
    const layers: Array<{ name: string; value: Tensor }> = [];
    model.blocks.forEach((block, i) => {
      for (const p of block.layers.parameters()) layers.push({ name: `block${i + 1}.${p.name}`, value: p.value });
    });
    for (const p of model.classifier.parameters()) layers.push({ name: `classifier.${p.name}`, value: p.value });
    const values = layers.map((p) => takeF32(checkpoint, p.name, p.value.shape, source));
    layers.forEach((p, i) => device.upload(p.value, values[i]!));
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

function takeF32(checkpoint: Checkpoint, name: string, shape: readonly number[], source: string): Float32Array {
  const t = checkpoint.tensors.get(name);
  if (!t) throw new CheckpointError(`${source}: tensor '${name}' is missing (the model built from the checkpoint's config needs it)`);
  if (t.dtype !== 'F32') throw new CheckpointError(`${source}: tensor '${name}' is ${t.dtype}, expected F32`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new CheckpointError(`${source}: tensor '${name}' has shape [${t.shape.join(', ')}], the model needs [${shape.join(', ')}]`);
  }
  return t.data as Float32Array;
}

function checkData(data: CheckpointData, source: string): void {
  const ok =
    typeof data === 'object' && data !== null && typeof data.name === 'string' &&
    Array.isArray(data.inputShape) && data.inputShape.length === 3 && data.inputShape.every((d) => Number.isSafeInteger(d) && d >= 1 && d <= 65536) &&
    Number.isSafeInteger(data.classes) && data.classes >= 2 && data.classes <= 100_000 &&
    Number.isFinite(data.mean) && Number.isFinite(data.std) && data.std > 0 &&
    (data.classNames === undefined || (Array.isArray(data.classNames) && data.classNames.length === data.classes && data.classNames.every((n) => typeof n === 'string')));
  if (!ok) throw new CheckpointError(`${source}: metadata 'data' must hold name, inputShape [C, H, W], classes >= 2, mean and std > 0 (and classNames, one per class)`);
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function isCountList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every(isCount);
}
