/**
 * What a training spec means on a dataset, worked out in one place for every host: the command's
 * runTraining (Node) and the lab's worker (a page) both train from a RunPlan, so they cannot
 * disagree about the validation split, the train-count subset, the steps of an epoch, the
 * learning-rate schedule, the augmentation of a batch, what a checkpoint records of the data, or
 * what resuming means.
 * Browser-safe: no files, no Node.
 */
import { augmentBatch, blackPixel } from '../data/augment.js';
import { batchesPerEpoch, type Batch } from '../data/batches.js';
import { splitValidation, subset, type Dataset, type Split } from '../data/datasets.js';
import type { CheckpointData, CheckpointMeta } from './checkpoint.js';
import { positionOf, type Position } from './fit.js';
import type { Schedule } from './schedule.js';
import type { ScheduleSpec, TrainingSpec } from './spec.js';
import type { TrainerConfig } from './trainer.js';

export interface RunPlan {
  spec: TrainingSpec;
  /** The training examples: the dataset's training split less the validation hold-out, cut to `trainCount`. */
  train: Split;
  /** The last `spec.dataset.validation` training examples; absent when that is 0. */
  validation?: Split;
  /** Full batches in an epoch (the last partial batch is dropped). */
  stepsPerEpoch: number;
  /** The Trainer's config, the schedule in steps. */
  trainer: TrainerConfig;
  /** What a checkpoint records of the data: enough to rebuild the model and normalize new images. */
  data: CheckpointData;
  /** The spec's augmentation of a training batch (random crop and flip), a function of (seed, epoch, batch) alone; absent without it. */
  transformBatch?: (batch: Batch) => Batch;
}

/** The trainer's learning-rate schedule for a spec's schedule (epochs become steps). */
export function scheduleOf(spec: ScheduleSpec, stepsPerEpoch: number, epochs: number): Schedule {
  if (spec.kind === 'constant') return { kind: 'constant' };
  if (spec.kind === 'step') return { kind: 'step', milestones: spec.milestones.map((epoch) => epoch * stepsPerEpoch), gamma: spec.gamma };
  const totalSteps = stepsPerEpoch * epochs;
  // The spec keeps the warm-up shorter than the run; rounding to whole steps must not undo that.
  const warmupSteps = Math.min(Math.round(spec.warmupEpochs * stepsPerEpoch), totalSteps - 1);
  return { kind: 'cosine', warmupSteps, totalSteps, floor: spec.floor };
}

/** The Trainer a spec describes, for a training split of `stepsPerEpoch` batches an epoch. */
export function trainerConfigOf(spec: TrainingSpec, stepsPerEpoch: number): TrainerConfig {
  return {
    method: spec.method,
    optimizer: spec.optimizer,
    schedule: scheduleOf(spec.schedule, stepsPerEpoch, spec.epochs),
    objective: () => spec.objective,
    // A spec of an older format may lack the section: the rule's defaults then apply.
    ...(spec.predsim ? { predsim: spec.predsim } : {}),
    seed: spec.seed,
    metricsEvery: spec.metricsEvery,
  };
}

/**
 * The plan of a (resolved) spec on a dataset. Refuses, naming the field, a validation split that
 * leaves nothing to train on, a batch larger than the examples to train on and a crop padding
 * larger than the images.
 */
export function planRun(spec: TrainingSpec, dataset: Dataset, options: { classNames?: readonly string[] } = {}): RunPlan {
  const { validation: held, trainCount } = spec.dataset;
  if (held >= dataset.train.count) {
    throw new RangeError(`dataset.validation ${held} leaves nothing to train on (${dataset.name} has ${dataset.train.count} training examples)`);
  }
  const parts = held === 0 ? { train: dataset.train } : splitValidation(dataset, held);
  const train = trainCount !== undefined ? subset(parts.train, Math.min(trainCount, parts.train.count)) : parts.train;
  const stepsPerEpoch = batchesPerEpoch(train.count, spec.batchSize, true);
  if (stepsPerEpoch === 0) throw new RangeError(`batchSize ${spec.batchSize} is larger than the ${train.count} examples to train on`);
  const [, height, width] = dataset.shape;
  if (spec.dataset.augment && spec.dataset.augmentPad > Math.min(height, width)) {
    throw new RangeError(`dataset.augmentPad ${spec.dataset.augmentPad} is larger than the ${height}x${width} images of ${dataset.name} (at most ${Math.min(height, width)})`);
  }
  // The registry's name (what `sll eval` looks the dataset up by), not the loader's label.
  const data: CheckpointData = {
    name: spec.dataset.name,
    inputShape: [...dataset.shape],
    classes: dataset.classes,
    mean: dataset.mean,
    std: dataset.std,
    ...(options.classNames ? { classNames: [...options.classNames] } : {}),
  };
  const fill = blackPixel(dataset);
  const transformBatch = spec.dataset.augment
    ? (batch: Batch): Batch => ({ ...batch, images: augmentBatch(batch.images, { shape: dataset.shape, pad: spec.dataset.augmentPad, fill, seed: spec.seed, epoch: batch.epoch, batchIndex: batch.index }) })
    : undefined;
  return {
    spec,
    train,
    ...('validation' in parts ? { validation: parts.validation } : {}),
    stepsPerEpoch,
    trainer: trainerConfigOf(spec, stepsPerEpoch),
    data,
    ...(transformBatch ? { transformBatch } : {}),
  };
}

/** Where a plan's run stands after `step` steps. */
export function planPosition(plan: RunPlan, step: number): Position {
  return positionOf(step, plan.stepsPerEpoch);
}

/**
 * Why a checkpoint cannot continue on `dataset`, or undefined when it can: its model was built
 * for other images or classes, or its pixels were normalized otherwise (a model judged on
 * differently scaled pixels would be judged wrongly).
 */
export function resumeMismatch(meta: Pick<CheckpointMeta, 'data'>, dataset: Dataset): string | undefined {
  const saved = meta.data;
  if (saved.classes !== dataset.classes || saved.inputShape.some((d, i) => d !== dataset.shape[i])) {
    return `saved for ${saved.name} (${saved.inputShape.join('x')}, ${saved.classes} classes), but the dataset given is ${dataset.name} (${dataset.shape.join('x')}, ${dataset.classes} classes)`;
  }
  if (saved.mean !== dataset.mean || saved.std !== dataset.std) {
    return `trained on pixels normalized with mean ${saved.mean} and std ${saved.std}, but the dataset given has mean ${dataset.mean} and std ${dataset.std}`;
  }
  return undefined;
}
