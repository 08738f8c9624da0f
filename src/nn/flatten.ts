/**
 * Flatten: [N, d1, ..., dk] -> [N, d1 * ... * dk] (PyTorch's nn.Flatten, start_dim 1), with its
 * derivative rule: the elements do not move, so
 *   y = x viewed as [N, prod],   dx = dy viewed as x's shape.
 * Both directions are views when the tensor is dense (no work); it keeps only the input shape.
 */
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual, sizeOf, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { contiguous } from '../ops/copy.js';
import type { BackwardOptions, ForwardOptions, Gradients, Layer, Parameter } from './layer.js';

export class Flatten implements Layer {
  readonly name = 'flatten';
  /** The input shape of the last training-mode forward: all that backward needs. */
  private inputShape: number[] | undefined;

  parameters(): readonly Parameter[] {
    return [];
  }

  outputShape(inputShape: Shape): number[] {
    if (inputShape.length < 2) throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} must be [N, ...] with at least 2 dimensions`);
    return [inputShape[0]!, sizeOf(inputShape.slice(1))];
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    const y = reshaped(x, this.outputShape(x.shape));
    this.inputShape = (options.training ?? true) ? [...x.shape] : undefined;
    return y;
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    const inputShape = this.inputShape;
    if (!inputShape) throw new Error(`${this.name}: backward without a training-mode forward`);
    if (!options.inputGradient) {
      this.inputShape = undefined;
      return { params: [] };
    }
    const expected = this.outputShape(inputShape);
    if (!shapesEqual(dy.shape, expected)) {
      throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output ${formatShape(expected)}`);
    }
    this.inputShape = undefined;
    return { params: [], input: reshaped(dy, inputShape) };
  }

  release(): void {
    this.inputShape = undefined;
  }

  dispose(): void {
    this.release();
  }
}

/** t viewed as `shape`: a view of t's storage when t is dense, else of a dense copy. */
function reshaped(t: Tensor, shape: Shape): Tensor {
  const dense = contiguous(t);
  const view = dense.reshape(shape);
  dense.dispose();
  return view;
}
