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
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';
import { SavedShape } from './saved.js';

export class Flatten implements Layer {
  readonly name = 'flatten';
  /** The input shape: all that backward needs. */
  private readonly inputShape = new SavedShape(() => this.name);

  parameters(): readonly Parameter[] {
    return [];
  }

  outputShape(inputShape: Shape): number[] {
    if (inputShape.length < 2) throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} must be [N, ...] with at least 2 dimensions`);
    return [inputShape[0]!, sizeOf(inputShape.slice(1))];
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    const y = reshaped(x, this.outputShape(x.shape));
    this.inputShape.save(x.shape, options.training ?? true);
    return y;
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    const expected = this.outputShape(this.inputShape.get());
    if (options.inputGradient && !shapesEqual(dy.shape, expected)) {
      throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output ${formatShape(expected)}`);
    }
    return this.inputShape.consume((shape) => (options.inputGradient ? { params: [], input: reshaped(dy, shape) } : { params: [] }));
  }

  release(): void {
    this.inputShape.release();
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
