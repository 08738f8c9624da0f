/**
 * Parameter-free activations as layers, each with its derivative rule:
 *   relu:  y = max(x, 0),   dx = dy where x > 0 (keeps y: y > 0 exactly where x > 0)
 *   gelu:  y = x Phi(x),    dx = dy (Phi(x) + x phi(x))  (keeps x)
 *   tanh:  y = tanh(x),     dx = dy (1 - y^2)            (keeps y)
 *   leaky: y = x if x > 0 else a x,  dx = dy or a dy     (keeps y when a > 0: y > 0 exactly
 *          where x > 0; else x)
 */
import type { Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { gelu, geluBackward, leakyRelu, leakyReluBackward, relu, reluBackward, tanh, tanhBackward } from '../ops/elementwise.js';
import { checkValue } from '../ops/checks.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';
import { SavedTensors } from './saved.js';

abstract class Activation implements Layer {
  abstract readonly name: string;
  /** x or y, whichever the derivative reads. */
  private readonly saved = new SavedTensors<[Tensor]>(() => this.name);

  parameters(): readonly Parameter[] {
    return [];
  }

  outputShape(inputShape: Shape): number[] {
    return [...inputShape];
  }

  protected abstract apply(x: Tensor): Tensor;
  protected abstract derivative(dy: Tensor, kept: Tensor): Tensor;
  /** Whether backward needs the input (else the output). */
  protected abstract readonly keepsInput: boolean;

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    this.saved.release();
    const y = this.apply(x);
    if (options.training ?? true) this.saved.save((this.keepsInput ? x : y).handle());
    return y;
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    // A parameter-free layer has nothing to learn: without an input gradient there is no work.
    return this.saved.consume(([saved]) => (options.inputGradient ? { params: [], input: this.derivative(dy, saved) } : { params: [] }));
  }

  release(): void {
    this.saved.release();
  }

  dispose(): void {
    this.release();
  }
}

export class ReLU extends Activation {
  readonly name = 'relu';
  protected readonly keepsInput = false;
  protected apply(x: Tensor): Tensor {
    return relu(x);
  }
  protected derivative(dy: Tensor, y: Tensor): Tensor {
    return reluBackward(dy, y);
  }
}

export class GELU extends Activation {
  readonly name = 'gelu';
  protected readonly keepsInput = true;
  protected apply(x: Tensor): Tensor {
    return gelu(x);
  }
  protected derivative(dy: Tensor, x: Tensor): Tensor {
    return geluBackward(dy, x);
  }
}

export class Tanh extends Activation {
  readonly name = 'tanh';
  protected readonly keepsInput = false;
  protected apply(x: Tensor): Tensor {
    return tanh(x);
  }
  protected derivative(dy: Tensor, y: Tensor): Tensor {
    return tanhBackward(dy, y);
  }
}

/** LeakyReLU with negative slope `slope` (default 0.01, PyTorch's; PredSim's blocks use it). */
export class LeakyReLU extends Activation {
  readonly name: string;
  protected readonly keepsInput: boolean;
  constructor(readonly slope = 0.01) {
    super();
    checkValue('LeakyReLU', 'slope', slope, 'number');
    this.name = `leaky-relu ${slope}`;
    this.keepsInput = !(slope > 0);
  }
  protected apply(x: Tensor): Tensor {
    return leakyRelu(x, this.slope);
  }
  protected derivative(dy: Tensor, kept: Tensor): Tensor {
    return leakyReluBackward(dy, kept, this.slope);
  }
}
