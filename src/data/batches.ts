/**
 * Minibatches in a seeded, reproducible order.
 *
 * The order of epoch e under seed s is a Fisher-Yates shuffle of 0..count-1 driven by
 * SeededRandom (src/random/host.ts) seeded from (s, e) alone. Only 32-bit integer arithmetic is used (Math.imul, shifts, exact float64 for the
 * rejection bound), so the same (seed, epoch) gives the same order on every machine and engine,
 * and a run can be resumed mid-epoch from (seed, epoch, batch index) without replaying anything.
 * Browser-safe.
 */
import { checkCount, SeededRandom } from '../random/host.js';
import type { Split } from './datasets.js';

export { SeededRandom };

/** Shuffles in place (Fisher-Yates, Knuth's Algorithm P); returns the array. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(array: T, random: SeededRandom): T {
  for (let i = array.length - 1; i > 0; i--) {
    const j = random.below(i + 1);
    const swap = array[i];
    array[i] = array[j];
    array[j] = swap;
  }
  return array;
}

/** The order of the examples in epoch `epoch` under `seed`: a permutation of 0..count-1. */
export function epochOrder(count: number, seed: number, epoch: number): Uint32Array {
  checkCount(count, 'count');
  if (count > 2 ** 32) throw new RangeError(`count ${count} exceeds 2^32`);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  return shuffleInPlace(order, new SeededRandom(seed, epoch));
}

export interface BatchOptions {
  batchSize: number;
  /** Seed of the epoch orders (default 0). */
  seed?: number;
  /** Epoch number (default 0): each epoch has its own order. */
  epoch?: number;
  /** false: examples in stored order (evaluation). Default true. */
  shuffle?: boolean;
  /** Drop the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** First batch to produce (default 0): resumes mid-epoch. */
  startBatch?: number;
}

export interface Batch {
  /** [size, C, H, W] contiguous, with C*H*W the split's values per example. */
  images: Float32Array;
  /** [size] */
  labels: Int32Array;
  /** Position of this batch in its epoch. */
  index: number;
  /** Examples in this batch: batchSize, or fewer for the last one without dropLast. */
  size: number;
  epoch: number;
}

/** Batches in one epoch of `count` examples. */
export function batchesPerEpoch(count: number, batchSize: number, dropLast = false): number {
  checkBatchSize(batchSize);
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/** Values per example of a split (C*H*W); throws when the images do not divide evenly. */
export function exampleSize(split: Split): number {
  if (split.count === 0) return 0;
  const size = split.images.length / split.count;
  if (!Number.isInteger(size) || split.labels.length !== split.count) {
    throw new RangeError(`split of ${split.count} examples has ${split.images.length} image values and ${split.labels.length} labels`);
  }
  return size;
}

/** Batch `index` of the given order: copies the examples order[index*B .. ] into new arrays. */
export function gatherBatch(split: Split, order: ArrayLike<number>, index: number, batchSize: number, epoch = 0): Batch {
  checkBatchSize(batchSize);
  const size = exampleSize(split);
  const start = index * batchSize;
  if (!Number.isInteger(index) || index < 0 || start >= order.length) {
    throw new RangeError(`batch ${index} of size ${batchSize} is outside an epoch of ${order.length} examples`);
  }
  const end = Math.min(start + batchSize, order.length);
  const images = new Float32Array((end - start) * size);
  const labels = new Int32Array(end - start);
  for (let i = start; i < end; i++) {
    const example = order[i]!;
    images.set(split.images.subarray(example * size, (example + 1) * size), (i - start) * size);
    labels[i - start] = split.labels[example]!;
  }
  return { images, labels, index, size: end - start, epoch };
}

/**
 * The minibatches of one epoch, from `startBatch` on. Each batch is freshly allocated, so a
 * caller may keep it (e.g. while its upload is pending).
 */
export function* batches(split: Split, options: BatchOptions): Generator<Batch> {
  const { batchSize, seed = 0, epoch = 0, shuffle = true, dropLast = false, startBatch = 0 } = options;
  const total = batchesPerEpoch(split.count, batchSize, dropLast);
  checkCount(startBatch, 'startBatch');
  if (startBatch > total) throw new RangeError(`startBatch ${startBatch} is beyond the ${total} batches of an epoch`);
  exampleSize(split);
  const order = shuffle ? epochOrder(split.count, seed, epoch) : identityOrder(split.count);
  for (let index = startBatch; index < total; index++) yield gatherBatch(split, order, index, batchSize, epoch);
}

function identityOrder(count: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  return order;
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size ${batchSize} is not a positive integer`);
}
