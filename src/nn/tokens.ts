/**
 * Token pooling: from a sequence of tokens [N, T, D] to one vector per sample [N, D], for a
 * classifier head on a transformer.
 *
 * Forward rules and backward rules side by side:
 *   MeanTokens:  y_n = (1/T) sum_t x_{n,t}        dx_{n,t} = dy_n / T     (every token)
 *   ClassToken:  y_n = x_{n,0}                    dx_{n,0} = dy_n, dx_{n,t>0} = 0
 * Both rules are linear and need no saved activations: only the input shape is remembered.
 */
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual, type Shape } from '../gpu/shape.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import type { Tensor } from '../gpu/tensor.js';
import { copy, copyInto } from '../ops/copy.js';
import { scale } from '../ops/elementwise.js';
import { mean } from '../ops/reduce.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';

abstract class TokenPooling implements Layer {
  abstract readonly name: string;
  /** [N, T, D] of the last training-mode forward; the only state the backward needs. */
  private keptShape: [number, number, number] | undefined;

  parameters(): readonly Parameter[] {
    return [];
  }

  outputShape(inputShape: Shape): number[] {
    if (inputShape.length !== 3 || inputShape[1]! < 1) {
      throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} must be tokens [N, T, D] with T >= 1`);
    }
    return [inputShape[0]!, inputShape[2]!];
  }

  protected abstract pool(x: Tensor): Tensor;
  /** dL/dx [N, T, D] from dL/dy [N, D]. */
  protected abstract spread(dy: Tensor, shape: [number, number, number]): Tensor;

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    this.outputShape(x.shape);
    this.keptShape = undefined;
    const y = this.pool(x);
    if (options.training ?? true) this.keptShape = [x.shape[0]!, x.shape[1]!, x.shape[2]!];
    return y;
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    const shape = this.keptShape;
    if (!shape) throw new Error(`${this.name}: backward without a training-mode forward`);
    const [n, , d] = shape;
    if (!shapesEqual(dy.shape, [n, d])) {
      throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output [${n}, ${d}]`);
    }
    this.keptShape = undefined;
    return options.inputGradient ? { params: [], input: this.spread(dy, shape) } : { params: [] };
  }

  release(): void {
    this.keptShape = undefined;
  }

  dispose(): void {
    this.release();
  }
}

/** The mean over tokens (the pooling of torchvision's ViT alternatives and of DeiT-style heads). */
export class MeanTokens extends TokenPooling {
  readonly name = 'mean-tokens';

  protected pool(x: Tensor): Tensor {
    return mean(x, [1]);
  }

  protected spread(dy: Tensor, shape: [number, number, number]): Tensor {
    return meanTokensBackward(dy, shape);
  }
}

/** Token 0: the class token that PatchEmbedding({ classToken: true }) prepends (ViT's head input). */
export class ClassToken extends TokenPooling {
  readonly name = 'class-token';

  protected pool(x: Tensor): Tensor {
    return x.device.scope(() => copy(x.slice(1, 0, 1)).reshape([x.shape[0]!, x.shape[2]!]));
  }

  protected spread(dy: Tensor, shape: [number, number, number]): Tensor {
    return classTokenBackward(dy, shape);
  }
}

/**
 * dL/dx [N, T, D] of the token mean, from dL/dy [N, D]: dy / T on every token. The small [N, D]
 * tensor is scaled, then one copy repeats it over T through a stride-0 view (one pass over the
 * output, where a broadcasting add onto zeros walked three axes per element).
 */
export function meanTokensBackward(dy: Tensor, [n, t, d]: readonly [number, number, number], category: MemoryCategory = 'activation'): Tensor {
  return dy.device.scope(() => copy(reshapeView(scale(dy, 1 / t, 'scratch'), [n, 1, d]).expand([n, t, d]), category));
}

/** dL/dx [N, T, D] of token 0's selection, from dL/dy [N, D]: dy on token 0, zero elsewhere. */
export function classTokenBackward(dy: Tensor, [n, t, d]: readonly [number, number, number], category: MemoryCategory = 'activation'): Tensor {
  return dy.device.scope(() => {
    const dx = dy.device.zeros([n, t, d], 'f32', category);
    copyInto(dx.slice(1, 0, 1), reshapeView(dy, [n, 1, d]));
    return dx;
  });
}

/** `t` seen with another shape of the same size: a view when dense, else a view of a dense copy. Call it in a scope. */
function reshapeView(t: Tensor, shape: Shape): Tensor {
  return (t.isContiguous ? t : copy(t, 'scratch')).reshape(shape);
}
