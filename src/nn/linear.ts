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
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';
import { SavedTensors } from './saved.js';

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
  /** x as rows, and y when the ReLU is fused (its derivative reads y > 0). */
  private readonly saved = new SavedTensors<[Tensor] | [Tensor, Tensor]>(() => this.name);
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
    checkForward(this.name, x, options);
    const outShape = this.outputShape(x.shape);
    this.saved.release();
    return this.device.scope(() => {
      const x2 = asRows(x, this.inFeatures);
      const y = matmul(x2, this.weight, { transposeB: true, bias: this.bias, activation: this.activation });
      if (options.training ?? true) {
        this.inputShape = [...x.shape];
        if (this.activation === 'relu') this.saved.save(x2, y);
        else this.saved.save(x2);
      }
      return y.reshape(outShape);
    });
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    const rows = this.saved.get()[0].shape[0]!;
    if (dy.size !== rows * this.outFeatures) {
      throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output [${rows}, ${this.outFeatures}]`);
    }
    return this.saved.consume(([x, y]) =>
      this.device.scope(() => {
        const dy2 = asRows(dy, this.outFeatures);
        const dz = y ? reluBackward(dy2, y, 'scratch') : dy2;
        const params = [matmul(dz, x, { transposeA: true })];
        if (this.bias) params.push(sum(dz, [0]));
        return options.inputGradient ? { params, input: matmul(dz, this.weight).reshape(this.inputShape) } : { params };
      }),
    );
  }

  release(): void {
    this.saved.release();
  }

  dispose(): void {
    this.release();
    this.weight.dispose();
    this.bias?.dispose();
  }
}

/** x [..., features] as a dense [rows, features] tensor (a view when x is dense), in the caller's scope. */
function asRows(x: Tensor, features: number): Tensor {
  return contiguous(x, 'scratch').reshape([sizeOf(x.shape.slice(0, -1)), features]);
}
