/**
 * Training and evaluation loops over a dataset split: batches in a seeded order, uploaded one at
 * a time, metrics read every few steps (never inside a step), progress reported through a
 * callback so that a command line or a page can show it.
 */
import type { Device } from '../gpu/device.js';
import { batches, batchesPerEpoch } from '../data/batches.js';
import type { Split } from '../data/datasets.js';
import type { StepMetrics, Trainer } from './trainer.js';

export interface FitOptions {
  epochs: number;
  batchSize: number;
  /** Seed of the epoch orders. */
  seed: number;
  /** Called after each metrics read (every `metricsEvery` steps of the trainer). */
  onProgress?: (progress: Progress) => void;
  /** Called after each epoch, with the evaluation of `evaluateOn` if given. */
  onEpoch?: (record: EpochRecord) => void;
  /** A split to evaluate after every epoch (the validation split; the test split only for reports). */
  evaluateOn?: Split;
}

export interface Progress {
  epoch: number;
  /** Steps done in this epoch, of `stepsPerEpoch`. */
  step: number;
  stepsPerEpoch: number;
  metrics: StepMetrics;
  samplesPerSecond: number;
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
}

export async function fit(trainer: Trainer, train: Split, shape: readonly number[], options: FitOptions): Promise<EpochRecord[]> {
  const records: EpochRecord[] = [];
  const stepsPerEpoch = batchesPerEpoch(train.count, options.batchSize, true);
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const started = performance.now();
    let windowStart = started;
    const metrics: StepMetrics[] = [];
    let step = 0;
    for (const batch of batches(train, { batchSize: options.batchSize, seed: options.seed, epoch, dropLast: true })) {
      trainStep(trainer, batch.images, batch.labels, shape);
      step++;
      if (trainer.metricsDue || step === stepsPerEpoch) {
        const m = await trainer.readMetrics();
        metrics.push(m);
        const now = performance.now();
        options.onProgress?.({ epoch, step, stepsPerEpoch, metrics: m, samplesPerSecond: (m.samples * 1000) / Math.max(now - windowStart, 1e-3) });
        windowStart = now;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const record: EpochRecord = { epoch, metrics, seconds, samplesPerSecond: (stepsPerEpoch * options.batchSize) / seconds };
    if (options.evaluateOn) record.evaluation = await evaluate(trainer, options.evaluateOn, shape, options.batchSize);
    records.push(record);
    options.onEpoch?.(record);
  }
  return records;
}

function trainStep(trainer: Trainer, images: Float32Array, labels: Int32Array, shape: readonly number[]): void {
  const device: Device = trainer.device;
  const x = device.tensor(images, [labels.length, ...shape]);
  const y = device.tensor(labels, [labels.length], 'i32');
  trainer.trainStep(x, y);
  x.dispose();
  y.dispose();
}

/** Accuracy of the classifier (and every SLL block head) on a split, in evaluation mode. */
export async function evaluate(trainer: Trainer, split: Split, shape: readonly number[], batchSize: number): Promise<Evaluation> {
  let correct = 0;
  let blockCorrect: number[] = [];
  for (const batch of batches(split, { batchSize, shuffle: false })) {
    const x = trainer.device.tensor(batch.images, [batch.size, ...shape]);
    const y = trainer.device.tensor(batch.labels, [batch.size], 'i32');
    const result = await trainer.evaluateBatch(x, y, batch.labels);
    x.dispose();
    y.dispose();
    correct += result.correct;
    blockCorrect = result.blockCorrect.map((c, i) => c + (blockCorrect[i] ?? 0));
  }
  const count = Math.max(split.count, 1);
  return { accuracy: correct / count, blockAccuracy: blockCorrect.map((c) => c / count), count: split.count };
}
