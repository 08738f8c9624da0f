/**
 * Training and evaluation loops over a dataset split: batches in a seeded order, uploaded one at
 * a time, metrics read every few steps (never inside a step), progress reported through a
 * callback so that a command line or a page can show it.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { batches, batchesPerEpoch, type Batch } from '../data/batches.js';
import type { Split } from '../data/datasets.js';
import type { StepMetrics, Trainer } from './trainer.js';
import { checkOption, TRAINING_FIELDS } from './trainingSettings.js';

export interface FitOptions {
  epochs: number;
  batchSize: number;
  /** Seed of the epoch orders. */
  seed: number;
  /** Called after each metrics read (every `metricsEvery` steps of the trainer). */
  onProgress?: (progress: Progress) => void | Promise<void>;
  /** Called after every step (nothing is read from the GPU for it): a progress bar's tick. */
  onStep?: (step: StepTick) => void;
  /** Called after each epoch, with the evaluation of `evaluateOn` if given; awaited (a checkpoint may be written). */
  onEpoch?: (record: EpochRecord) => void | Promise<void>;
  /** A split to evaluate after every epoch (the validation split; the test split only for reports). */
  evaluateOn?: Split;
  /** Where to begin: a 0-based epoch and the batch within it (resuming a run). Default the start. */
  start?: Position;
  /** Stops training at the next step boundary; fit then resolves with the epochs completed. */
  signal?: AbortSignal;
  /** Changes a training batch before upload (augmentation); must be a function of the batch alone. */
  transformBatch?: (batch: Batch) => Batch;
}

/** A place in training: the next batch to train is batch `batch` of epoch `epoch` (both 0-based). */
export interface Position {
  epoch: number;
  batch: number;
}

export interface Progress {
  epoch: number;
  /** Steps done in this epoch, of `stepsPerEpoch`. */
  step: number;
  stepsPerEpoch: number;
  metrics: StepMetrics;
  samplesPerSecond: number;
}

export interface StepTick {
  epoch: number;
  /** Steps done in this epoch, of `stepsPerEpoch`. */
  step: number;
  stepsPerEpoch: number;
}

export interface EpochRecord {
  epoch: number;
  /** Mean losses per unit over the epoch's metric windows. */
  metrics: StepMetrics[];
  seconds: number;
  samplesPerSecond: number;
  evaluation?: Evaluation;
}

export interface Evaluation {
  accuracy: number;
  /** Accuracy of each block's local head (SLL only). */
  blockAccuracy: number[];
  count: number;
  /** confusion[true class][predicted class] of the classifier, when asked for. */
  confusion?: number[][];
}

/**
 * Trains from `start` (default the beginning) to the end of epoch `epochs`, or until `signal`
 * aborts. The position reached is `fitPosition(...)`'s: after an abort, the next batch to train.
 * Resuming at a position with restored weights, optimizer state and counters repeats the
 * uninterrupted run bitwise: batch orders are functions of (seed, epoch) alone.
 */
export async function fit(trainer: Trainer, train: Split, shape: readonly number[], options: FitOptions): Promise<EpochRecord[]> {
  checkFitOptions(options);
  checkSplit('fit', 'train', train, shape, trainer.model.classes);
  if (options.evaluateOn) checkSplit('fit', 'evaluateOn', options.evaluateOn, shape, trainer.model.classes);
  if (options.batchSize > train.count) {
    throw new RangeError(`fit: batchSize ${options.batchSize} is larger than the ${train.count} examples of the split: no full batch to train on (the last partial batch of an epoch is dropped)`);
  }
  const records: EpochRecord[] = [];
  const stepsPerEpoch = batchesPerEpoch(train.count, options.batchSize, true);
  const start = options.start ?? { epoch: 0, batch: 0 };
  if (!Number.isSafeInteger(start.epoch) || start.epoch < 0 || !Number.isSafeInteger(start.batch) || start.batch < 0 || start.batch > stepsPerEpoch) {
    throw new RangeError(`fit: start position epoch ${start.epoch}, batch ${start.batch} is outside epochs of ${stepsPerEpoch} batches`);
  }
  // Every batch goes into the same two tensors, so that the trainer can replay its recorded step
  // on them (TrainerConfig.replay); freed when training ends, however it ends.
  const inputs = trainer.device.scope(() => ({
    images: trainer.device.keep(trainer.device.empty([options.batchSize, ...shape])),
    labels: trainer.device.keep(trainer.device.empty([options.batchSize], 'i32')),
  }));
  try {
    for (let epoch = start.epoch; epoch < options.epochs; epoch++) {
      const started = performance.now();
      let windowStart = started;
      const metrics: StepMetrics[] = [];
      const first = epoch === start.epoch ? start.batch : 0;
      let step = first;
      for (const raw of batches(train, { batchSize: options.batchSize, seed: options.seed, epoch, dropLast: true, startBatch: first })) {
        if (options.signal?.aborted) break;
        const batch = options.transformBatch ? options.transformBatch(raw) : raw;
        uploadAndStep(trainer, inputs, batch.images, batch.labels);
        step++;
        // Bounds the GPU's queue and lets signals (Ctrl-C, SIGTERM) and a page's events in: the
        // abort check above then stops within one step.
        await trainer.device.throttle();
        options.onStep?.({ epoch, step, stepsPerEpoch });
        if (trainer.metricsDue || step === stepsPerEpoch) {
          const m = await trainer.readMetrics();
          metrics.push(m);
          const now = performance.now();
          await options.onProgress?.({ epoch, step, stepsPerEpoch, metrics: m, samplesPerSecond: (m.samples * 1000) / Math.max(now - windowStart, 1e-3) });
          windowStart = now;
        }
      }
      if (step < stepsPerEpoch) {
        // Aborted mid-epoch: read what the last window holds (a non-finite step throws here), and
        // report it like any other window, so that its steps are logged and checked too.
        if (trainer.stepsSinceRead > 0) {
          const m = await trainer.readMetrics();
          metrics.push(m);
          await options.onProgress?.({ epoch, step, stepsPerEpoch, metrics: m, samplesPerSecond: (m.samples * 1000) / Math.max(performance.now() - windowStart, 1e-3) });
        }
        break;
      }
      const seconds = (performance.now() - started) / 1000;
      const record: EpochRecord = { epoch, metrics, seconds, samplesPerSecond: ((stepsPerEpoch - first) * options.batchSize) / seconds };
      if (options.evaluateOn) record.evaluation = await evaluate(trainer, options.evaluateOn, shape, options.batchSize);
      records.push(record);
      await options.onEpoch?.(record);
      if (options.signal?.aborted) break;
    }
  } finally {
    inputs.images.dispose();
    inputs.labels.dispose();
  }
  return records;
}

/** The position after `trainer.step` steps of a run that started at step 0 (`stepsPerEpoch` batches an epoch). */
export function positionOf(step: number, stepsPerEpoch: number): Position {
  return { epoch: Math.floor(step / stepsPerEpoch), batch: step % stepsPerEpoch };
}

/** Uploads one host batch into the fit's input tensors and takes the trainer's step on them. */
function uploadAndStep(trainer: Trainer, inputs: { images: Tensor; labels: Tensor }, images: Float32Array, labels: Int32Array): void {
  const device: Device = trainer.device;
  device.upload(inputs.images, images);
  device.upload(inputs.labels, labels);
  device.scope(() => trainer.trainStep(inputs.images, inputs.labels));
}

/**
 * Accuracy of the classifier (and every SLL block head) on a split, in evaluation mode; with
 * `confusion`, also the classifier's confusion matrix, from the same forward pass.
 */
export async function evaluate(trainer: Trainer, split: Split, shape: readonly number[], batchSize: number, options: { confusion?: boolean } = {}): Promise<Evaluation> {
  checkOption(TRAINING_FIELDS.batchSize, batchSize, 'batchSize', 'evaluate');
  checkSplit('evaluate', 'split', split, shape, trainer.model.classes);
  if (split.count === 0) throw new RangeError('evaluate: the split holds no examples: there is no accuracy to measure');
  let correct = 0;
  let blockCorrect: number[] = [];
  const classes = trainer.model.classes;
  const confusion = options.confusion ? Array.from({ length: classes }, () => new Array<number>(classes).fill(0)) : undefined;
  for (const batch of batches(split, { batchSize, shuffle: false })) {
    const x = trainer.device.tensor(batch.images, [batch.size, ...shape]);
    const y = trainer.device.tensor(batch.labels, [batch.size], 'i32');
    // Freed by hand: the batch lives across an await, which a scope cannot span.
    const result = await trainer.evaluateBatch(x, y, batch.labels).finally(() => {
      x.dispose();
      y.dispose();
    });
    correct += result.correct;
    blockCorrect = result.blockCorrect.map((c, i) => c + (blockCorrect[i] ?? 0));
    if (confusion) result.predicted.forEach((p, i) => confusion[batch.labels[i]!]![p]!++);
  }
  const count = Math.max(split.count, 1);
  return { accuracy: correct / count, blockAccuracy: blockCorrect.map((c) => c / count), count: split.count, ...(confusion ? { confusion } : {}) };
}

/** fit's numbers, against the training spec's own rules (trainingSettings.ts). */
function checkFitOptions(options: FitOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError(`fit: options must be an object, got ${JSON.stringify(options)}`);
  checkOption(TRAINING_FIELDS.epochs, options.epochs, 'epochs', 'fit');
  checkOption(TRAINING_FIELDS.batchSize, options.batchSize, 'batchSize', 'fit');
  checkOption(TRAINING_FIELDS.seed, options.seed, 'seed', 'fit');
  for (const name of ['onProgress', 'onStep', 'onEpoch', 'transformBatch'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`fit: ${name} must be a function, got ${typeof options[name]}`);
  }
}

/**
 * A split's data, checked on the host before any of it is uploaded: sizes that agree with the
 * shape, every label a class index, every pixel finite. A label outside the classes or a NaN
 * pixel would otherwise surface steps later as a "non-finite gradient" that names a block, not
 * the input at fault.
 */
export function checkSplit(op: string, name: string, split: Split, shape: readonly number[], classes: number): void {
  if (checkedSplits.get(split as object) === classes) return;
  if (typeof split !== 'object' || split === null || !(split.images instanceof Float32Array) || !(split.labels instanceof Int32Array) || !Number.isSafeInteger(split.count) || split.count < 0) {
    throw new TypeError(`${op}: ${name} must be a Split { images: Float32Array, labels: Int32Array, count }, got ${describe(split)}`);
  }
  const perExample = shape.reduce((n, d) => n * d, 1);
  if (split.images.length !== split.count * perExample) {
    throw new RangeError(`${op}: ${name} has ${split.images.length} pixel values for ${split.count} examples of shape [${shape.join(', ')}] (${split.count * perExample} expected)`);
  }
  if (split.labels.length !== split.count) throw new RangeError(`${op}: ${name} has ${split.labels.length} labels for ${split.count} examples`);
  for (let i = 0; i < split.count; i++) {
    const label = split.labels[i]!;
    if (label < 0 || label >= classes) throw new RangeError(`${op}: ${name} label ${i} is ${label}, outside the ${classes} classes [0, ${classes - 1}] the model predicts`);
  }
  const images = split.images;
  for (let i = 0; i < images.length; i++) {
    // x - x is 0 for every finite x and NaN for NaN and the infinities: one test, no branch per kind.
    if (images[i]! - images[i]! !== 0) {
      throw new RangeError(`${op}: ${name} example ${Math.floor(i / perExample)} has a non-finite pixel (${images[i]} at element ${i % perExample}): the data must be finite numbers`);
    }
  }
  checkedSplits.set(split, classes);
}

/**
 * Splits already scanned (for a model of so many classes), so that evaluating the validation
 * split after every epoch does not scan it again. A split is taken as data that does not change
 * once given to training; one changed in place after a check is not checked again.
 */
const checkedSplits = new WeakMap<object, number>();

function describe(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  return `an object with ${Object.keys(value).join(', ') || 'no keys'}`;
}
