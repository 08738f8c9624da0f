/**
 * ChannelSpread: the standard deviation of each channel over its positions, [N, C, H, W] ->
 * [N, C] (PyTorch's x.view(N, C, -1).std(dim=2), unbiased): what PredSim's similarity reads of a
 * conv block (src/sll/predsimConv.ts). With P = H W positions, per channel:
 *   m = sum_p x_p / P,   c_p = x_p - m,   s = sqrt(sum_p c_p^2 / (P - 1))
 *   ds/dx_p = c_p / ((P - 1) s)
 * (the mean's own derivative drops out, since the c_p sum to zero). A channel of zero spread has
 * every c_p = 0, so its gradient is 0: s is taken with 1e-30 added below it in the rule, which
 * keeps that 0 from becoming 0 / 0. The forward keeps c and s.
 */
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { contiguous } from '../ops/copy.js';
import { affine, div, mul, scale, sqrt, square, sub } from '../ops/elementwise.js';
import { mean, sum } from '../ops/reduce.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';
import { SavedTensors } from './saved.js';

export class ChannelSpread implements Layer {
  readonly name = 'channel spread';
  /** c [N C, P] and s [N C, 1] of the last training forward. */
  private readonly saved = new SavedTensors<[Tensor, Tensor]>(() => this.name);
  private inputShape: number[] = [];

  parameters(): readonly Parameter[] {
    return [];
  }

  outputShape(inputShape: Shape): number[] {
    if (inputShape.length !== 4 || inputShape[2]! * inputShape[3]! < 2) {
      throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} must be [N, C, H, W] with at least 2 positions (H W >= 2) to have a spread`);
    }
    return [inputShape[0]!, inputShape[1]!];
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    const [n, channels] = this.outputShape(x.shape) as [number, number];
    const positions = x.shape[2]! * x.shape[3]!;
    this.saved.release();
    return x.device.scope(() => {
      const rows = contiguous(x, 'scratch').reshape([n * channels, positions]);
      const centred = sub(rows, mean(rows, [1], { category: 'scratch' }).reshape([n * channels, 1]), 'activation');
      const spread = sqrt(scale(sum(square(centred, 'scratch'), [1], { category: 'scratch' }), 1 / (positions - 1), 'scratch'), 'activation').reshape([n * channels, 1]);
      if (options.training ?? true) {
        this.inputShape = [...x.shape];
        this.saved.save(centred, spread);
      }
      return spread.reshape([n, channels]);
    });
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    this.saved.get(); // throws for a backward without a training forward
    const expected = this.outputShape(this.inputShape);
    if (!shapesEqual(dy.shape, expected)) throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output ${formatShape(expected)}`);
    return this.saved.consume(([centred, spread]) => {
      if (!options.inputGradient) return { params: [] };
      const positions = this.inputShape[2]! * this.inputShape[3]!;
      return dy.device.scope(() => {
        const perRow = div(contiguous(dy, 'scratch').reshape([expected[0]! * expected[1]!, 1]), affine(spread, positions - 1, 1e-30, 'scratch'), 'scratch');
        return { params: [], input: mul(centred, perRow).reshape(this.inputShape) };
      });
    });
  }

  release(): void {
    this.saved.release();
  }

  dispose(): void {
    this.release();
  }
}
