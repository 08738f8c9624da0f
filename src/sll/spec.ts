/**
 * A model and its training as plain JSON: what `sll train` reads from flags or a config file,
 * what a run directory's config.json holds, and what a checkpoint carries in its metadata, so
 * that a checkpoint alone rebuilds the model it was saved from.
 */
import type { Device } from '../gpu/device.js';
import type { OptimizerConfig } from '../ops/optim.js';
import { checkObjectiveConfig, classModeObjective, latentModeObjective, type LocalObjectiveConfig } from './config.js';
import { cnn, mlp, vit, type Model } from './model.js';
import type { Method } from './trainer.js';

export type ModelSpec =
  | { kind: 'mlp'; hidden: number[] }
  | { kind: 'cnn'; channels: number[]; convsPerStage: number; hidden: number; stageFeatures: 'flatten' | 'gap' }
  | { kind: 'vit'; patch: number; dim: number; depth: number; heads: number; mlpRatio: number; pooling: 'mean-token' | 'cls-token' };

export type ModelKind = ModelSpec['kind'];
export const MODEL_KINDS: readonly ModelKind[] = ['mlp', 'cnn', 'vit'];

/** The default sizes: MLP 3x1000; CNN conv32/conv64/fc256; ViT patch 4, dim 64, depth 4. */
export function defaultModelSpec(kind: ModelKind): ModelSpec {
  switch (kind) {
    case 'mlp':
      return { kind, hidden: [1000, 1000, 1000] };
    case 'cnn':
      return { kind, channels: [32, 64], convsPerStage: 1, hidden: 256, stageFeatures: 'flatten' };
    case 'vit':
      return { kind, patch: 4, dim: 64, depth: 4, heads: 4, mlpRatio: 2, pooling: 'mean-token' };
    default:
      throw new RangeError(`unknown model '${String(kind)}' (use ${MODEL_KINDS.join(', ')})`);
  }
}

/** SLL.md's default local objective for a model: class mode for MLP and ViT, latent 512 for the CNN. */
export function defaultObjective(kind: ModelKind, classes: number): LocalObjectiveConfig {
  return kind === 'cnn' ? latentModeObjective() : classModeObjective(classes);
}

export interface DataShape {
  /** [C, H, W] of one example. */
  inputShape: [number, number, number];
  classes: number;
}

/** Builds the model a spec describes; `seed` sets the initial weights. */
export function buildModel(device: Device, spec: ModelSpec, data: DataShape, seed: number): Model {
  const { inputShape, classes } = data;
  switch (spec.kind) {
    case 'mlp':
      return mlp(device, { inputShape, classes, seed, hidden: spec.hidden });
    case 'cnn':
      return cnn(device, { inputShape, classes, seed, channels: spec.channels, convsPerStage: spec.convsPerStage, hidden: spec.hidden, stageFeatures: spec.stageFeatures });
    case 'vit':
      return vit(device, { inputShape, classes, seed, patch: spec.patch, dim: spec.dim, depth: spec.depth, heads: spec.heads, mlpRatio: spec.mlpRatio, pooling: spec.pooling });
    default:
      throw new RangeError(`unknown model kind '${String((spec as { kind: unknown }).kind)}'`);
  }
}

export type ScheduleSpec = { kind: 'constant' } | { kind: 'cosine'; warmupEpochs: number; floor: number };

/** Everything that decides a training run's numbers (with the seed, the same file gives the same weights). */
export interface TrainingSpec {
  method: Method;
  model: ModelSpec;
  dataset: {
    name: string;
    /** Directory the dataset was read from (informative; `sll train --data-dir` overrides). */
    dir?: string;
    /** Examples held out from the end of the training split for validation. */
    validation: number;
    /** Random crop (padding 4) and horizontal flip on training batches. */
    augment: boolean;
    /** Train on the first N examples of the training part only (quick experiments); absent: all. */
    trainCount?: number;
    /** Standardize pixels with the training split's mean and std; false keeps them in [0, 1]. Absent: true. */
    normalize?: boolean;
  };
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleSpec;
  /** Local objective of every block (SLL only). */
  objective: LocalObjectiveConfig;
  seed: number;
  /** Steps between reads of the losses (and between logged lines of metrics.jsonl). */
  metricsEvery: number;
}

/**
 * Checks a spec read from JSON (a config file, a run's config.json, a checkpoint): every field
 * present and of the right type and range. Errors name the field.
 */
export function checkTrainingSpec(spec: TrainingSpec, classes?: number): TrainingSpec {
  const fail = (field: string, why: string): never => {
    throw new RangeError(`config: ${field} ${why}`);
  };
  const positiveInteger = (field: string, v: unknown) => {
    if (!Number.isSafeInteger(v) || (v as number) < 1) fail(field, `must be a positive integer, got ${JSON.stringify(v)}`);
  };
  if (typeof spec !== 'object' || spec === null) fail('', 'must be a JSON object');
  if (spec.method !== 'sll' && spec.method !== 'backprop') fail('method', `must be 'sll' or 'backprop', got ${JSON.stringify(spec.method)}`);
  if (typeof spec.model !== 'object' || spec.model === null || !MODEL_KINDS.includes(spec.model.kind)) fail('model.kind', `must be one of ${MODEL_KINDS.join(', ')}, got ${JSON.stringify(spec.model?.kind)}`);
  const m = spec.model;
  if (m.kind === 'mlp') {
    if (!Array.isArray(m.hidden) || m.hidden.length === 0) fail('model.hidden', 'must be a non-empty list of widths');
    m.hidden.forEach((h, i) => positiveInteger(`model.hidden[${i}]`, h));
  } else if (m.kind === 'cnn') {
    if (!Array.isArray(m.channels) || m.channels.length === 0) fail('model.channels', 'must be a non-empty list of channel counts');
    m.channels.forEach((c, i) => positiveInteger(`model.channels[${i}]`, c));
    positiveInteger('model.convsPerStage', m.convsPerStage);
    positiveInteger('model.hidden', m.hidden);
    if (m.stageFeatures !== 'flatten' && m.stageFeatures !== 'gap') fail('model.stageFeatures', `must be 'flatten' or 'gap', got ${JSON.stringify(m.stageFeatures)}`);
  } else {
    for (const f of ['patch', 'dim', 'depth', 'heads'] as const) positiveInteger(`model.${f}`, m[f]);
    if (m.dim % m.heads !== 0) fail('model.dim', `(${m.dim}) must be a multiple of model.heads (${m.heads})`);
    if (!(m.mlpRatio > 0)) fail('model.mlpRatio', `must be positive, got ${JSON.stringify(m.mlpRatio)}`);
    if (m.pooling !== 'mean-token' && m.pooling !== 'cls-token') fail('model.pooling', `must be 'mean-token' or 'cls-token', got ${JSON.stringify(m.pooling)}`);
  }
  if (typeof spec.dataset?.name !== 'string' || spec.dataset.name === '') fail('dataset.name', 'must be a dataset name');
  if (!Number.isSafeInteger(spec.dataset.validation) || spec.dataset.validation < 0) fail('dataset.validation', `must be a count >= 0, got ${JSON.stringify(spec.dataset.validation)}`);
  if (typeof spec.dataset.augment !== 'boolean') fail('dataset.augment', 'must be true or false');
  if (spec.dataset.trainCount !== undefined) positiveInteger('dataset.trainCount', spec.dataset.trainCount);
  if (spec.dataset.normalize !== undefined && typeof spec.dataset.normalize !== 'boolean') fail('dataset.normalize', 'must be true or false');
  positiveInteger('epochs', spec.epochs);
  positiveInteger('batchSize', spec.batchSize);
  positiveInteger('metricsEvery', spec.metricsEvery);
  if (!Number.isSafeInteger(spec.seed) || spec.seed < 0 || spec.seed > 0xffffffff) fail('seed', `must be an integer in [0, 2^32), got ${JSON.stringify(spec.seed)}`);
  const o = spec.optimizer;
  if (typeof o !== 'object' || o === null || !['sgd', 'adam', 'adamw'].includes(o.kind)) fail('optimizer.kind', `must be sgd, adam or adamw, got ${JSON.stringify((o as { kind?: unknown } | undefined)?.kind)}`);
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) fail('optimizer.lr', `must be a positive number, got ${JSON.stringify(o.lr)}`);
  const s = spec.schedule;
  if (s?.kind === 'cosine') {
    if (!Number.isFinite(s.warmupEpochs) || s.warmupEpochs < 0) fail('schedule.warmupEpochs', `must be >= 0, got ${JSON.stringify(s.warmupEpochs)}`);
    if (!(s.floor >= 0 && s.floor <= 1)) fail('schedule.floor', `must be in [0, 1], got ${JSON.stringify(s.floor)}`);
  } else if (s?.kind !== 'constant') fail('schedule.kind', `must be 'constant' or 'cosine', got ${JSON.stringify((s as { kind?: unknown } | undefined)?.kind)}`);
  if (spec.method === 'sll' && classes !== undefined) checkObjectiveConfig(spec.objective, classes, 'config: objective');
  return spec;
}
