/**
 * Minibatches in a seeded, reproducible order.
 *
 * The order of epoch e under seed s is a Fisher-Yates shuffle of 0..count-1 driven by sfc32
 * (Chris Doty-Humphrey's Small Fast Counting generator, PractRand-clean at 32 bits) seeded from
 * (s, e) alone. Only 32-bit integer arithmetic is used (Math.imul, shifts, exact float64 for the
 * rejection bound), so the same (seed, epoch) gives the same order on every machine and engine,
 * and a run can be resumed mid-epoch from (seed, epoch, batch index) without replaying anything.
 * Browser-safe.
 */
import type { Split } from './datasets.js';

/** murmur3's 32-bit finalizer: spreads every input bit over the word, so nearby seeds diverge. */
function fmix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function checkCounter(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} ${value} is not a non-negative safe integer`);
}

/** A small deterministic generator (sfc32) for host-side choices: shuffles and splits. */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private counter = 1;

  /** `seed` and `stream` are non-negative safe integers; each (seed, stream) is its own sequence. */
  constructor(seed: number, stream = 0) {
    checkCounter(seed, 'seed');
    checkCounter(stream, 'stream');
    // The low words (all of any seed or epoch below 2^32) go to separate state words, so
    // (seed, stream) pairs below 2^32 never share a starting state; fmix32 is a bijection.
    this.a = fmix32((seed >>> 0) ^ 0x9e3779b9);
    this.b = fmix32((stream >>> 0) ^ 0x7f4a7c15);
    const seedHi = Math.floor(seed / 2 ** 32) >>> 0;
    const streamHi = Math.floor(stream / 2 ** 32) >>> 0;
    this.c = fmix32(seedHi ^ fmix32(streamHi ^ 0x2545f491));
    // The reference seeding discards the first outputs so the state is well mixed.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.counter) | 0;
    this.counter = (this.counter + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform integer in [0, n), n <= 2^32, without modulo bias (rejection sampling). */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`below(${n}): n must be an integer in [1, 2^32]`);
    // Accept x < limit, the largest multiple of n that fits in 32 bits (exact in float64).
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }
}

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
  checkCounter(count, 'count');
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
  checkCounter(startBatch, 'startBatch');
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
