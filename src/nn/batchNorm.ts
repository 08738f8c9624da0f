/**
 * Batch normalisation of features [N, F] over the batch, as PyTorch's nn.BatchNorm1d(F) (gamma
 * 1, beta 0, eps 1e-5, momentum 0.1): the block normalisation of PredSim's authors' MLP.
 *
 * Training, per feature f over the N rows of the batch:
 *   mean = sum_n x_n / N,   var = sum_n (x_n - mean)^2 / N (biased),   rstd = 1 / sqrt(var + eps)
 *   xhat = (x - mean) rstd,   y = gamma xhat + beta
 *   running mean <- (1 - momentum) running mean + momentum mean
 *   running var  <- (1 - momentum) running var  + momentum var N / (N - 1)   (unbiased, as PyTorch)
 * Evaluation reads the running statistics instead: xhat = (x - running mean) / sqrt(running var + eps).
 * The backward rule (training mode), with g = dy gamma:
 *   dgamma = sum_n dy xhat,   dbeta = sum_n dy
 *   dx = rstd (g - mean_n g - xhat mean_n (g xhat))
 * It is LayerNorm's rule with rows and columns exchanged. The forward keeps xhat and
 * std = sqrt(var + eps) (the rule divides by it).
 *
 * The running statistics are state, not parameters: no optimizer steps them. `buffers()` names
 * them, for whatever must save and restore a layer's whole state.
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { copyInto } from '../ops/copy.js';
import { add, affine, div, mul, scale, sqrt, square, sub } from '../ops/elementwise.js';
import { mean, sum } from '../ops/reduce.js';
import { checkValue } from '../ops/checks.js';
import { constantParameter } from './init.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';
import { SavedTensors } from './saved.js';

export interface BatchNormOptions {
  /** Added to the variance before the square root. Default 1e-5 (PyTorch). */
  eps?: number;
  /** Weight of a batch's statistics in the running ones. Default 0.1 (PyTorch). */
  momentum?: number;
}

export class BatchNorm implements Layer {
  readonly name: string;
  readonly gamma: Tensor;
  readonly beta: Tensor;
  /** The running mean and (unbiased) variance that evaluation normalises with. */
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly eps: number;
  readonly momentum: number;
  /** xhat and std = sqrt(var + eps) of the last training forward. */
  private readonly saved = new SavedTensors<[Tensor, Tensor]>(() => this.name);

  constructor(
    readonly device: Device,
    readonly features: number,
    options: BatchNormOptions = {},
  ) {
    if (!Number.isInteger(features) || features < 1) throw new RangeError(`batchnorm: features must be a positive integer, got ${features}`);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    checkValue('batchnorm', 'eps', this.eps, 'nonNegative');
    checkValue('batchnorm', 'momentum', this.momentum, 'nonNegative');
    if (this.momentum > 1) throw new RangeError(`batchnorm: momentum must be in [0, 1], got ${this.momentum}`);
    this.name = `batchnorm ${features}`;
    this.gamma = constantParameter(device, [features], 1);
    this.beta = constantParameter(device, [features], 0);
    // State, not parameters: in the parameter category for the memory counters, stepped by no optimizer.
    this.runningMean = constantParameter(device, [features], 0);
    this.runningVar = constantParameter(device, [features], 1);
  }

  parameters(): readonly Parameter[] {
    return [
      { name: 'gamma', value: this.gamma },
      { name: 'beta', value: this.beta },
    ];
  }

  /** The running statistics, by name: what a checkpoint must keep beside the parameters. */
  buffers(): readonly Parameter[] {
    return [
      { name: 'runningMean', value: this.runningMean },
      { name: 'runningVar', value: this.runningVar },
    ];
  }

  outputShape(inputShape: Shape): number[] {
    if (inputShape.length !== 2 || inputShape[1] !== this.features) {
      throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} must be [batch, ${this.features}]`);
    }
    return [...inputShape];
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    this.outputShape(x.shape);
    this.saved.release();
    const training = options.training ?? true;
    const n = x.shape[0]!;
    if (training && n < 2) throw new ShapeError(`${this.name}: a training batch needs at least 2 rows to have a variance, got ${n}`);
    return this.device.scope(() => {
      if (!training) {
        return this.scaleAndShift(div(sub(x, this.runningMean, 'scratch'), sqrt(affine(this.runningVar, 1, this.eps, 'scratch'), 'scratch'), 'scratch'));
      }
      const batchMean = mean(x, [0], { category: 'scratch' });
      const centred = sub(x, batchMean, 'scratch');
      const variance = mean(square(centred, 'scratch'), [0], { category: 'scratch' });
      const std = sqrt(affine(variance, 1, this.eps, 'scratch'), 'activation');
      const xhat = div(centred, std, 'activation');
      // The running statistics move towards this batch's (PyTorch keeps the unbiased variance).
      copyInto(this.runningMean, add(scale(this.runningMean, 1 - this.momentum, 'scratch'), scale(batchMean, this.momentum, 'scratch'), 'scratch'));
      copyInto(this.runningVar, add(scale(this.runningVar, 1 - this.momentum, 'scratch'), scale(variance, (this.momentum * n) / (n - 1), 'scratch'), 'scratch'));
      this.saved.save(xhat, std);
      return this.scaleAndShift(xhat);
    });
  }

  /** gamma xhat + beta, in the caller's scope. */
  private scaleAndShift(xhat: Tensor): Tensor {
    return add(mul(xhat, this.gamma, 'scratch'), this.beta);
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    const shape = this.saved.get()[0].shape;
    if (!shapesEqual(dy.shape, shape)) {
      throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output ${formatShape(shape)}`);
    }
    return this.saved.consume(([xhat, std]) =>
      this.device.scope(() => {
        const params = [sum(mul(dy, xhat, 'scratch'), [0]), sum(dy, [0])];
        if (!options.inputGradient) return { params };
        const g = mul(dy, this.gamma, 'scratch');
        const along = mean(mul(g, xhat, 'scratch'), [0], { category: 'scratch' });
        const centred = sub(g, mean(g, [0], { category: 'scratch' }), 'scratch');
        return { params, input: div(sub(centred, mul(xhat, along, 'scratch'), 'scratch'), std) };
      }),
    );
  }

  release(): void {
    this.saved.release();
  }

  dispose(): void {
    this.release();
    for (const t of [this.gamma, this.beta, this.runningMean, this.runningVar]) t.dispose();
  }
}
