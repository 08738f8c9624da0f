/**
 * Pooling layers over NCHW activations, parameter-free, each with its derivative rule (as
 * PyTorch: the stride defaults to the kernel; max pooling ignores padded taps; average pooling
 * counts them as zeros, so every window divides by kH * kW):
 *   max:     y[n, c, oh, ow] = max over the window W(oh, ow) of x[n, c, h, w]
 *            dx[n, c, h, w] = sum of dy[n, c, oh, ow] over the windows whose first maximum is (h, w)
 *            (keeps x: where the maxima are depends on it)
 *   average: y[n, c, oh, ow] = sum over W(oh, ow) of x[n, c, h, w] / (kH kW)
 *            dx[n, c, h, w] = sum of dy[n, c, oh, ow] / (kH kW) over the windows containing (h, w)
 *            (linear in x: keeps only its shape)
 *   global:  y[n, c] = sum over h, w of x[n, c, h, w] / (H W),   dx[n, c, h, w] = dy[n, c] / (H W)
 *            (keeps only the shape)
 * A parameter-free layer has nothing to learn: without an input gradient, backward does no work.
 */
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { spatialPair, type SpatialPair } from '../ops/geometry.js';
import { avgPool2d, avgPool2dBackward, globalAvgPool, globalAvgPoolBackward, maxPool2d, maxPool2dBackward, pool2dOutputShape } from '../ops/pool2d.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';
import { SavedShape, SavedTensors } from './saved.js';

export interface Pool2dLayerOptions {
  /** Window size, one value or [kH, kW]. */
  kernel: SpatialPair;
  /** Step between windows (default: the kernel). */
  stride?: SpatialPair;
  /** Padding on each side (default 0), at most half the kernel. */
  padding?: SpatialPair;
}

/** The window geometry, resolved and checked once when the layer is made. */
interface PoolWindow {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
}

function resolveWindow(kind: string, options: Pool2dLayerOptions): PoolWindow {
  const kernel = spatialPair(kind, 'kernel', options.kernel, 1);
  const stride = spatialPair(kind, 'stride', options.stride ?? kernel, 1);
  const padding = spatialPair(kind, 'padding', options.padding ?? 0, 0);
  if (2 * padding[0] > kernel[0] || 2 * padding[1] > kernel[1]) {
    throw new ShapeError(`${kind}: padding [${padding.join(', ')}] is more than half the kernel ${kernel.join('x')}`);
  }
  return { kernel, stride, padding };
}

/** 'maxpool 2x2', 'avgpool 3x3 s1 p1': the stride only when it is not the kernel. */
function windowName(kind: string, { kernel, stride, padding }: PoolWindow): string {
  const pair = ([a, b]: [number, number]) => (a === b ? `${a}` : `${a},${b}`);
  const strideText = shapesEqual(stride, kernel) ? '' : ` s${pair(stride)}`;
  const paddingText = padding[0] === 0 && padding[1] === 0 ? '' : ` p${pair(padding)}`;
  return `${kind} ${kernel[0]}x${kernel[1]}${strideText}${paddingText}`;
}

function requireImages(name: string, inputShape: Shape): void {
  if (inputShape.length !== 4) throw new ShapeError(`${name}: input ${formatShape(inputShape)} must be [N, C, H, W]`);
}

function windowOutputShape(name: string, inputShape: Shape, window: PoolWindow): number[] {
  requireImages(name, inputShape);
  const [h, w] = [inputShape[2]!, inputShape[3]!];
  const [kh, kw] = window.kernel;
  const [py, px] = window.padding;
  if (kh > h + 2 * py || kw > w + 2 * px) {
    throw new ShapeError(`${name}: input ${formatShape(inputShape)}: window ${kh}x${kw} is larger than the padded input ${h + 2 * py}x${w + 2 * px}`);
  }
  return pool2dOutputShape(inputShape, window);
}

function requireGradientShape(name: string, dy: Tensor, expected: Shape): void {
  if (!shapesEqual(dy.shape, expected)) {
    throw new ShapeError(`${name}: dy ${formatShape(dy.shape)} does not match the forward output ${formatShape(expected)}`);
  }
}

/** Max pooling; the gradient of each window goes to its first maximum (row-major order). */
/** What a windowed pooling layer is: its window, its name, no parameters. */
abstract class WindowPool implements Layer {
  readonly name: string;
  protected readonly window: PoolWindow;

  constructor(kind: 'maxpool' | 'avgpool', options: Pool2dLayerOptions) {
    this.window = resolveWindow(kind, options);
    this.name = windowName(kind, this.window);
  }

  parameters(): readonly Parameter[] {
    return [];
  }

  outputShape(inputShape: Shape): number[] {
    return windowOutputShape(this.name, inputShape, this.window);
  }

  abstract forward(x: Tensor, options?: ForwardOptions): Tensor;
  abstract backward(dy: Tensor, options?: BackwardOptions): Gradients;
  abstract release(): void;

  dispose(): void {
    this.release();
  }
}

export class MaxPool2d extends WindowPool {
  /** The input (the gradient goes to each window's first maximum in it). */
  private readonly saved = new SavedTensors<[Tensor]>(() => this.name);

  constructor(options: Pool2dLayerOptions) {
    super('maxpool', options);
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    this.outputShape(x.shape);
    this.saved.release();
    const y = maxPool2d(x, this.window);
    if (options.training ?? true) this.saved.save(x.handle());
    return y;
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    // A wrong dy throws before anything is let go, as in every layer.
    if (options.inputGradient) requireGradientShape(this.name, dy, this.outputShape(this.saved.get()[0].shape));
    return this.saved.consume(([x]) => (options.inputGradient ? { params: [], input: maxPool2dBackward(dy, x, this.window) } : { params: [] }));
  }

  release(): void {
    this.saved.release();
  }
}

/** Average pooling (padded taps count as zeros). */
export class AvgPool2d extends WindowPool {
  /** The input shape: all that backward needs. */
  private readonly inputShape = new SavedShape(() => this.name);

  constructor(options: Pool2dLayerOptions) {
    super('avgpool', options);
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    this.outputShape(x.shape);
    const y = avgPool2d(x, this.window);
    this.inputShape.save(x.shape, options.training ?? true);
    return y;
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    if (options.inputGradient) requireGradientShape(this.name, dy, this.outputShape(this.inputShape.get()));
    return this.inputShape.consume((shape) => (options.inputGradient ? { params: [], input: avgPool2dBackward(dy, shape, this.window) } : { params: [] }));
  }

  release(): void {
    this.inputShape.release();
  }
}

/** [N, C, H, W] -> [N, C]: the mean of each plane. */
export class GlobalAvgPool implements Layer {
  readonly name = 'globalavgpool';
  private readonly inputShape = new SavedShape(() => this.name);

  parameters(): readonly Parameter[] {
    return [];
  }

  outputShape(inputShape: Shape): number[] {
    requireImages(this.name, inputShape);
    if (inputShape[2] === 0 || inputShape[3] === 0) throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} has empty planes`);
    return [inputShape[0]!, inputShape[1]!];
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    this.outputShape(x.shape);
    const y = globalAvgPool(x);
    this.inputShape.save(x.shape, options.training ?? true);
    return y;
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    if (options.inputGradient) requireGradientShape(this.name, dy, this.outputShape(this.inputShape.get()));
    return this.inputShape.consume((shape) => (options.inputGradient ? { params: [], input: globalAvgPoolBackward(dy, shape) } : { params: [] }));
  }

  release(): void {
    this.inputShape.release();
  }

  dispose(): void {
    this.release();
  }
}
