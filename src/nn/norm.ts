/**
 * LayerNorm over the last axis, as PyTorch's nn.LayerNorm(features, eps): gamma = 1, beta = 0.
 *
 * Forward rule and backward rule side by side (per row of `features` values):
 *   mean = sum_j x_j / F,   rstd = 1 / sqrt(sum_j (x_j - mean)^2 / F + eps)   (biased variance)
 *   xhat = (x - mean) rstd,  y = xhat gamma + beta
 *   dgamma = sum over rows of dy xhat           [F]
 *   dbeta  = sum over rows of dy                [F]
 *   dx = rstd (g - mean_j(g) - xhat mean_j(g xhat)),  g = dy gamma
 *        (xhat is centred and has unit mean square, so the two subtracted terms remove the
 *        components of g along the directions the normalization takes away)
 * The forward keeps x and each row's mean and rstd (two floats per row), so the backward need
 * not recompute the statistics.
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { layerNorm, layerNormBackward } from '../ops/layernorm.js';
import { constantParameter } from './init.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';
import { SavedTensors } from './saved.js';

export interface LayerNormLayerOptions {
  /** Added to the variance before the square root. Default 1e-5 (PyTorch). */
  eps?: number;
}

export class LayerNorm implements Layer {
  readonly name: string;
  readonly gamma: Tensor;
  readonly beta: Tensor;
  readonly eps: number;
  /** x and each row's mean and rstd. */
  private readonly saved = new SavedTensors<[Tensor, Tensor, Tensor]>(() => this.name);

  constructor(
    readonly device: Device,
    readonly features: number,
    options: LayerNormLayerOptions = {},
  ) {
    if (!Number.isInteger(features) || features < 1) throw new RangeError(`layernorm: features must be a positive integer, got ${features}`);
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps >= 0) || !Number.isFinite(this.eps)) throw new RangeError(`layernorm: eps must be a non-negative finite number, got ${this.eps}`);
    this.name = `layernorm ${features}`;
    this.gamma = constantParameter(device, [features], 1);
    this.beta = constantParameter(device, [features], 0);
  }

  parameters(): readonly Parameter[] {
    return [
      { name: 'gamma', value: this.gamma },
      { name: 'beta', value: this.beta },
    ];
  }

  outputShape(inputShape: Shape): number[] {
    if (inputShape.length < 1 || inputShape[inputShape.length - 1] !== this.features) {
      throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} must end in ${this.features} features`);
    }
    return [...inputShape];
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    this.outputShape(x.shape);
    this.saved.release();
    return this.device.scope(() => {
      const { y, mean, rstd } = layerNorm(x, this.gamma, this.beta, { eps: this.eps });
      if (options.training ?? true) this.saved.save(x.handle(), mean, rstd);
      return y;
    });
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    const xShape = this.saved.get()[0].shape;
    if (!shapesEqual(dy.shape, xShape)) {
      throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output ${formatShape(xShape)}`);
    }
    return this.saved.consume(([x, mean, rstd]) =>
      this.device.scope(() => {
        // The op computes dx with the parameter gradients in one pass over the rows; when the
        // caller does not want it (SLL's block input) it is dropped.
        const { dx, dgamma, dbeta } = layerNormBackward(dy, x, mean, rstd, this.gamma);
        return options.inputGradient ? { params: [dgamma, dbeta], input: dx } : { params: [dgamma, dbeta] };
      }),
    );
  }

  release(): void {
    this.saved.release();
  }

  dispose(): void {
    this.release();
    this.gamma.dispose();
    this.beta.dispose();
  }
}
