/**
 * Adaptive average pooling over NCHW activations (PyTorch's F.adaptive_avg_pool2d), for a fixed
 * input size: output cell i of an axis of length n pooled to m averages the input positions
 * [floor(i n / m), ceil((i + 1) n / m)), so windows may overlap and the output may be larger than
 * the input. Each channel's H*W values are mapped linearly to its oh*ow outputs, so the layer is
 * one matmul with a fixed [oh ow, H W] matrix M (the Kronecker product of the two axes'
 * matrices), and its derivative rule is the transpose:
 *   y[n, c, :] = M x[n, c, :],    dx[n, c, :] = M^T dy[n, c, :]
 * Several poolings in a row (DGL's auxiliary net pools to a quarter of the size, then to 2 x 2)
 * are one matrix, their product, composed in float64 on the host.
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { contiguous } from '../ops/copy.js';
import { matmul } from '../ops/matmul.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';
import { SavedShape } from './saved.js';

/** The [m, n] matrix of adaptive average pooling of a length-n axis to m cells, row-major. */
export function adaptivePoolMatrix(n: number, m: number): Float64Array {
  const matrix = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const start = Math.floor((i * n) / m);
    const end = Math.ceil(((i + 1) * n) / m);
    for (let j = start; j < end; j++) matrix[i * n + j] = 1 / (end - start);
  }
  return matrix;
}

/** The [oh ow, H W] matrix pooling an H x W map to oh x ow: rows (a, b) -> a * ow + b. */
function poolMatrix2d([h, w]: readonly [number, number], [oh, ow]: readonly [number, number]): Float64Array {
  const rows = adaptivePoolMatrix(h, oh);
  const cols = adaptivePoolMatrix(w, ow);
  const matrix = new Float64Array(oh * ow * h * w);
  for (let a = 0; a < oh; a++) {
    for (let b = 0; b < ow; b++) {
      for (let y = 0; y < h; y++) {
        const ry = rows[a * h + y]!;
        if (ry === 0) continue;
        for (let x = 0; x < w; x++) matrix[(a * ow + b) * h * w + y * w + x] = ry * cols[b * w + x]!;
      }
    }
  }
  return matrix;
}

/** p [r, k] times q [k, c], row-major, in float64. */
function product(p: Float64Array, q: Float64Array, r: number, k: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let t = 0; t < k; t++) {
    const v = p[i * k + t]!;
    if (v !== 0) for (let j = 0; j < c; j++) out[i * c + j]! += v * q[t * c + j]!;
  }
  return out;
}

export class AdaptiveAvgPool2d implements Layer {
  readonly name: string;
  /** M [oh ow, H W], fixed: the whole pooling chain as one matrix (category 'projection': fixed, never trained). */
  readonly matrix: Tensor;
  readonly outputSize: [number, number];
  private readonly inputShape = new SavedShape(() => this.name);

  /**
   * Pools [N, C, H, W] maps of the given input size through each output size in turn
   * (`[[4, 4], [2, 2]]`: to 4 x 4, then to 2 x 2).
   */
  constructor(
    readonly device: Device,
    readonly inputSize: readonly [number, number],
    sizes: ReadonlyArray<readonly [number, number]>,
  ) {
    const positive = (v: number) => Number.isInteger(v) && v >= 1;
    if (!inputSize.every(positive)) throw new RangeError(`adaptive avgpool: input size [${inputSize.join(', ')}] must be positive integers`);
    if (sizes.length === 0 || !sizes.every((s) => s.length === 2 && s.every(positive))) throw new RangeError(`adaptive avgpool: output sizes ${JSON.stringify(sizes)} must be one or more [height, width] pairs of positive integers`);
    let from: readonly [number, number] = inputSize;
    let chain: Float64Array | undefined;
    for (const to of sizes) {
      const step = poolMatrix2d(from, to);
      chain = chain ? product(step, chain, to[0] * to[1], from[0] * from[1], inputSize[0] * inputSize[1]) : step;
      from = to;
    }
    this.outputSize = [from[0], from[1]];
    this.name = `adaptive avgpool ${inputSize.join('x')}->${sizes.map((s) => s.join('x')).join('->')}`;
    this.matrix = device.tensor(Float32Array.from(chain!), [from[0] * from[1], inputSize[0] * inputSize[1]], 'f32', 'projection');
  }

  parameters(): readonly Parameter[] {
    return [];
  }

  outputShape(inputShape: Shape): number[] {
    if (inputShape.length !== 4 || !shapesEqual(inputShape.slice(2), this.inputSize)) {
      throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} must be [N, C, ${this.inputSize.join(', ')}]`);
    }
    return [inputShape[0]!, inputShape[1]!, ...this.outputSize];
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    const outShape = this.outputShape(x.shape);
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const y = this.device.scope(() => matmul(contiguous(x).reshape([n * c, h * w]), this.matrix, { transposeB: true }));
    this.inputShape.save(x.shape, options.training ?? true);
    return reshapedOwned(y, outShape);
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    return this.inputShape.consume((shape) => {
      if (!options.inputGradient) return { params: [] };
      const expected = this.outputShape(shape);
      if (!shapesEqual(dy.shape, expected)) throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output ${formatShape(expected)}`);
      const dx = this.device.scope(() => matmul(contiguous(dy).reshape([expected[0]! * expected[1]!, this.outputSize[0] * this.outputSize[1]]), this.matrix));
      return { params: [], input: reshapedOwned(dx, shape) };
    });
  }

  release(): void {
    this.inputShape.release();
  }

  dispose(): void {
    this.release();
    this.matrix.dispose();
  }
}

/** A dense tensor the caller owns, viewed as `shape`; the original handle is let go. */
function reshapedOwned(t: Tensor, shape: Shape): Tensor {
  const view = t.reshape(shape);
  t.dispose();
  return view;
}
