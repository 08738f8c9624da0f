/**
 * Conv2d: y = act(conv2d(x, W) + b), x [N, Cin, H, W] (NCHW), W [Cout, Cin, kH, kW] as PyTorch
 * stores it, y [N, Cout, Ho, Wo]; and cnnStage, a VGG-style stage built from it.
 *
 * Forward rule and backward rule side by side (z = conv2d(x, W) + b, y = act(z); the window of
 * output position (oh, ow) starts at input row oh * strideY - padY, column ow * strideX - padX):
 *   z[n, co, oh, ow] = b[co] + sum over ci, i, j of W[co, ci, i, j] x[n, ci, oh sy - py + i, ow sx - px + j]
 *   dz = dy * act'(z)                           (relu: dy where y > 0; none: dy)
 *   dW[co, ci, i, j] = sum over n, oh, ow of dz[n, co, oh, ow] x[n, ci, oh sy - py + i, ow sx - px + j]
 *   db[co] = sum over n, oh, ow of dz[n, co, oh, ow]
 *   dx[n, ci, h, w] = sum over every (co, oh, ow, i, j) whose tap lands on (h, w) of dz[n, co, oh, ow] W[co, ci, i, j]
 *                                               (only when asked: SLL skips it at a block input)
 * Taps in the zero padding contribute nothing to any of these sums. The bias and ReLU are fused
 * into the forward kernel; the ReLU mask is read from the kept output (y > 0 exactly where z > 0).
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { conv2d, conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight, conv2dOutputShape } from '../ops/conv.js';
import { spatialPair, type SpatialPair } from '../ops/geometry.js';
import { reluBackward } from '../ops/elementwise.js';
import type { Seed } from '../ops/random.js';
import { stageSeed } from '../random/seeds.js';
import { initStream, uniformFanIn } from './init.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';
import { SavedTensors } from './saved.js';
import { MaxPool2d } from './pool2d.js';
import { Sequential } from './sequential.js';

export interface Conv2dLayerOptions {
  /** Step between windows, one value or [strideY, strideX] (default 1). */
  stride?: SpatialPair;
  /** Zeros added on each side, one value or [padY, padX] (default 0). */
  padding?: SpatialPair;
  bias?: boolean;
  /** A fused activation. Default 'none'. */
  activation?: 'none' | 'relu';
  /** Seed of the initial parameters (PyTorch's default init, from the counter RNG). */
  seed: Seed;
}

export class Conv2d implements Layer {
  readonly name: string;
  readonly weight: Tensor;
  readonly bias: Tensor | undefined;
  readonly activation: 'none' | 'relu';
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  /** x, and y when the ReLU is fused (its derivative reads y > 0). */
  private readonly saved = new SavedTensors<[Tensor] | [Tensor, Tensor]>(() => this.name);

  constructor(
    readonly device: Device,
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: SpatialPair,
    options: Conv2dLayerOptions,
  ) {
    if (!Number.isInteger(inChannels) || !Number.isInteger(outChannels) || inChannels < 1 || outChannels < 1) {
      throw new RangeError(`conv2d: channels must be positive integers, got ${inChannels} -> ${outChannels}`);
    }
    this.kernelSize = spatialPair('conv2d', 'kernelSize', kernelSize, 1);
    this.stride = spatialPair('conv2d', 'stride', options.stride ?? 1, 1);
    this.padding = spatialPair('conv2d', 'padding', options.padding ?? 0, 0);
    this.activation = options.activation ?? 'none';
    const [kh, kw] = this.kernelSize;
    const [sy, sx] = this.stride;
    const [py, px] = this.padding;
    const geometry = `${kh}x${kw}${sy === 1 && sx === 1 ? '' : ` s${sy === sx ? sy : `${sy},${sx}`}`}${py === 0 && px === 0 ? '' : ` p${py === px ? py : `${py},${px}`}`}`;
    this.name = `conv2d ${inChannels}->${outChannels} ${geometry}${this.activation === 'none' ? '' : ` +${this.activation}`}`;
    // PyTorch's Conv2d: weights and bias both U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = Cin kH kW.
    const fanIn = inChannels * kh * kw;
    const stream = initStream(device, options.seed);
    this.weight = uniformFanIn(device, stream, [outChannels, inChannels, kh, kw], fanIn);
    this.bias = options.bias === false ? undefined : uniformFanIn(device, stream, [outChannels], fanIn);
  }

  parameters(): readonly Parameter[] {
    const params: Parameter[] = [{ name: 'weight', value: this.weight }];
    if (this.bias) params.push({ name: 'bias', value: this.bias });
    return params;
  }

  outputShape(inputShape: Shape): number[] {
    if (inputShape.length !== 4) {
      throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} must be [N, C, H, W]`);
    }
    if (inputShape[1] !== this.inChannels) {
      throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} has ${inputShape[1]} channels, expected ${this.inChannels}`);
    }
    const [kh, kw] = this.kernelSize;
    const [h, w] = [inputShape[2]!, inputShape[3]!];
    const [py, px] = this.padding;
    if (kh > h + 2 * py || kw > w + 2 * px) {
      throw new ShapeError(`${this.name}: input ${formatShape(inputShape)}: kernel ${kh}x${kw} is larger than the padded input ${h + 2 * py}x${w + 2 * px}`);
    }
    return conv2dOutputShape(inputShape, this.weight.shape, this.geometry());
  }

  private geometry() {
    return { stride: this.stride, padding: this.padding };
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    this.outputShape(x.shape);
    this.saved.release();
    const y = conv2d(x, this.weight, { ...this.geometry(), bias: this.bias, activation: this.activation });
    if (options.training ?? true) {
      if (this.activation === 'relu') this.saved.save(x.handle(), y.handle());
      else this.saved.save(x.handle());
    }
    return y;
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    const expected = this.outputShape(this.saved.get()[0].shape);
    if (!shapesEqual(dy.shape, expected)) {
      throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output ${formatShape(expected)}`);
    }
    return this.saved.consume(([x, y]) =>
      this.device.scope(() => {
        const dz = y ? reluBackward(dy, y, 'scratch') : dy;
        const params = [conv2dBackwardWeight(dz, x, this.weight.shape, this.geometry())];
        if (this.bias) params.push(conv2dBackwardBias(dz));
        return options.inputGradient ? { params, input: conv2dBackwardInput(dz, this.weight, x.shape, this.geometry()) } : { params };
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

export interface CnnStageOptions {
  /** Seed of the stage; each conv's seed is derived from it and its index (stageSeed). */
  seed: Seed;
  /** Makes the activation layer after each conv; absent: ReLU, fused into the conv. */
  activation?: () => Layer;
}

/**
 * A VGG-style stage: `convs` times conv 3x3 (padding 1) + ReLU (fused) or the given activation,
 * then max pooling 2x2 (stride 2): [N, inChannels, H, W] -> [N, outChannels, floor(H / 2), floor(W / 2)].
 */
export function cnnStage(device: Device, inChannels: number, outChannels: number, convs: number, options: CnnStageOptions): Sequential {
  if (!Number.isInteger(convs) || convs < 1) throw new RangeError(`cnnStage: convs must be a positive integer, got ${convs}`);
  const layers: Layer[] = [];
  for (let i = 0; i < convs; i++) {
    const seed = stageSeed(options.seed, i);
    const inputs = i === 0 ? inChannels : outChannels;
    if (options.activation) layers.push(new Conv2d(device, inputs, outChannels, 3, { padding: 1, seed }), options.activation());
    else layers.push(new Conv2d(device, inputs, outChannels, 3, { padding: 1, activation: 'relu', seed }));
  }
  layers.push(new MaxPool2d({ kernel: 2 }));
  return new Sequential(layers);
}
