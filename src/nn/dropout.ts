/**
 * Dropout (inverted, as PyTorch's nn.Dropout): in training, y = x * m / (1 - p) with
 * m ~ Bernoulli(1 - p) per element; in evaluation, and for p = 0, y = x.
 *
 * Forward rule and backward rule side by side: for a fixed mask the layer is linear, so
 *   dx = dy * m / (1 - p).
 *
 * The mask comes from the counter RNG (Philox, src/ops/random.ts): it is a pure function of
 * (seed, offset, shape). The layer keeps a stream whose offset moves on by one word per element
 * at every training forward, and its backward regenerates the same mask from the offset the
 * forward used instead of storing it: a dispatch traded for a mask's worth of activation memory
 * (the SLL trade). `offset` can be read and set, to checkpoint and resume the stream.
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { affine, mul } from '../ops/elementwise.js';
import { RandomStream, type Seed } from '../ops/random.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';

export interface DropoutOptions {
  /** Key of the mask stream. */
  seed: Seed;
}

/** What a training forward leaves for the backward: where its mask starts, and its shape. */
interface MaskRecord {
  offset: number;
  shape: number[];
}

export class Dropout implements Layer {
  readonly name: string;
  private readonly stream: RandomStream;
  /** Set by a training-mode forward; `null` marks an identity forward (p = 0). */
  private kept: MaskRecord | null | undefined;

  constructor(
    readonly device: Device,
    /** Probability of dropping an element, in [0, 1). */
    readonly p: number,
    options: DropoutOptions,
  ) {
    if (!(p >= 0 && p < 1)) throw new RangeError(`dropout: p must be in [0, 1), got ${p}`);
    this.name = `dropout ${p}`;
    this.stream = new RandomStream(device, options.seed);
  }

  /** The next unused word of the mask stream: record it to resume training bit for bit. */
  get offset(): number {
    return this.stream.offset;
  }

  set offset(offset: number) {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`${this.name}: offset ${offset} is not a non-negative safe integer`);
    this.stream.offset = offset;
  }

  parameters(): readonly Parameter[] {
    return [];
  }

  outputShape(inputShape: Shape): number[] {
    return [...inputShape];
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    this.kept = undefined;
    const training = options.training ?? true;
    if (!training || this.p === 0) {
      if (training) this.kept = null;
      // The identity: a view, so the caller owns a handle without a copy.
      return x.handle();
    }
    const offset = this.stream.offset;
    const scaledMask = this.scaledMask(x.shape, offset);
    this.stream.offset = offset + x.size; // bernoulli consumes one word per element
    try {
      const y = mul(x, scaledMask);
      this.kept = { offset, shape: [...x.shape] };
      return y;
    } finally {
      scaledMask.dispose();
    }
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    const record = this.kept;
    if (record === undefined) throw new Error(`${this.name}: backward without a training-mode forward`);
    if (record !== null && !shapesEqual(dy.shape, record.shape)) {
      throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output ${formatShape(record.shape)}`);
    }
    this.kept = undefined;
    // No parameters: without an input gradient there is nothing to compute.
    if (!options.inputGradient) return { params: [] };
    if (record === null) return { params: [], input: dy.handle() };
    const scaledMask = this.scaledMask(record.shape, record.offset);
    try {
      return { params: [], input: mul(dy, scaledMask) };
    } finally {
      scaledMask.dispose();
    }
  }

  /** m / (1 - p) for the mask that starts at `offset` (scratch; the caller disposes it). */
  private scaledMask(shape: Shape, offset: number): Tensor {
    const mask = this.stream.bernoulliAt(offset, shape, { p: 1 - this.p, category: 'scratch' });
    try {
      return affine(mask, 1 / (1 - this.p), 0, 'scratch');
    } finally {
      mask.dispose();
    }
  }

  release(): void {
    this.kept = undefined;
  }

  dispose(): void {
    this.release();
  }
}
