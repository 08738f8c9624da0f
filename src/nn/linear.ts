/**
 * Linear: y = act(x W^T + b), W [out, in] as PyTorch stores it, x [..., in].
 *
 * Forward rule and backward rule side by side (z = x W^T + b, y = act(z)):
 *   dz = dy * act'(z)              (relu: dy where y > 0; none: dy)
 *   dW = dz^T x                    [out, in]
 *   db = sum over rows of dz       [out]
 *   dx = dz W                      [..., in]  (only when asked: SLL skips it at a block input)
 * The bias and ReLU are fused into the matmul; transposes are flags, never copies.
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, sizeOf, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { contiguous } from '../ops/copy.js';
import { reluBackward } from '../ops/elementwise.js';
import { matmul } from '../ops/matmul.js';
import { sum } from '../ops/reduce.js';
import type { Seed } from '../ops/random.js';
import { initStream, uniformFanIn } from './init.js';
import { releaseAll, retain, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';

export interface LinearOptions {
  bias?: boolean;
  /** A fused activation. Default 'none'. */
  activation?: 'none' | 'relu';
  /** Seed of the initial parameters (PyTorch's default init, from the counter RNG). */
  seed: Seed;
}

export class Linear implements Layer {
  readonly name: string;
  readonly weight: Tensor;
  readonly bias: Tensor | undefined;
  readonly activation: 'none' | 'relu';
  private readonly kept: Tensor[] = [];
  private inputShape: number[] = [];

  constructor(
    readonly device: Device,
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions,
  ) {
    if (!Number.isInteger(inFeatures) || !Number.isInteger(outFeatures) || inFeatures < 1 || outFeatures < 1) {
      throw new RangeError(`linear: features must be positive integers, got ${inFeatures} -> ${outFeatures}`);
    }
    this.activation = options.activation ?? 'none';
    this.name = `linear ${inFeatures}->${outFeatures}${this.activation === 'none' ? '' : ` +${this.activation}`}`;
    const stream = initStream(device, options.seed);
    this.weight = uniformFanIn(device, stream, [outFeatures, inFeatures], inFeatures);
    this.bias = options.bias === false ? undefined : uniformFanIn(device, stream, [outFeatures], inFeatures);
  }

  parameters(): readonly Parameter[] {
    const params: Parameter[] = [{ name: 'weight', value: this.weight }];
    if (this.bias) params.push({ name: 'bias', value: this.bias });
    return params;
  }

  outputShape(inputShape: Shape): number[] {
    if (inputShape.length < 1 || inputShape[inputShape.length - 1] !== this.inFeatures) {
      throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} must end in ${this.inFeatures} features`);
    }
    return [...inputShape.slice(0, -1), this.outFeatures];
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    const outShape = this.outputShape(x.shape);
    releaseAll(this.kept);
    const x2 = asRows(x, this.inFeatures);
    try {
      const y = matmul(x2, this.weight, { transposeB: true, bias: this.bias, activation: this.activation });
      if (options.training ?? true) {
        this.inputShape = [...x.shape];
        this.kept.push(retain(x2));
        if (this.activation === 'relu') this.kept.push(retain(y));
      }
      const shaped = y.reshape(outShape);
      y.dispose();
      return shaped;
    } finally {
      x2.dispose();
    }
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    const [x, y] = this.kept;
    if (!x) throw new Error(`${this.name}: backward without a training-mode forward`);
    const rows = x.shape[0]!;
    if (dy.size !== rows * this.outFeatures) {
      throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output [${rows}, ${this.outFeatures}]`);
    }
    const dy2 = asRows(dy, this.outFeatures);
    const dz = y ? reluBackward(dy2, y, 'scratch') : dy2;
    try {
      const params = [matmul(dz, x, { transposeA: true })];
      if (this.bias) params.push(sum(dz, [0]));
      const result: Gradients = { params };
      if (options.inputGradient) {
        const dx = matmul(dz, this.weight);
        result.input = dx.reshape(this.inputShape);
        dx.dispose();
      }
      return result;
    } finally {
      if (dz !== dy2) dz.dispose();
      dy2.dispose();
      releaseAll(this.kept);
    }
  }

  release(): void {
    releaseAll(this.kept);
  }

  dispose(): void {
    this.release();
    this.weight.dispose();
    this.bias?.dispose();
  }
}

/** x [..., features] as a dense [rows, features] tensor (a view when x is dense). Dispose it. */
function asRows(x: Tensor, features: number): Tensor {
  const dense = contiguous(x, 'scratch');
  const rows = dense.reshape([sizeOf(x.shape.slice(0, -1)), features]);
  dense.dispose();
  return rows;
}
