/**
 * A chain of layers. Forward runs them in order; backward runs their rules in reverse,
 * chaining dL/dx from each layer to the one before (the block-internal chain rule: between
 * SLL blocks nothing flows backward, but inside a block it does).
 */
import { ShapeError } from '../gpu/errors.js';
import type { Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';

export class Sequential implements Layer {
  readonly name: string;

  /** Index of the first layer with parameters (layers.length if none): where a backward without an input gradient stops. */
  private readonly firstTrainable: number;

  constructor(readonly layers: readonly Layer[]) {
    if (layers.length === 0) throw new ShapeError('sequential: no layers');
    this.name = layers.map((l) => l.name).join(' / ');
    const first = layers.findIndex((layer) => layer.parameters().length > 0);
    this.firstTrainable = first < 0 ? layers.length : first;
  }

  parameters(): readonly Parameter[] {
    return this.layers.flatMap((layer, i) => layer.parameters().map((p) => ({ name: `${i}.${p.name}`, value: p.value })));
  }

  buffers(): readonly Parameter[] {
    return this.layers.flatMap((layer, i) => (layer.buffers?.() ?? []).map((p) => ({ name: `${i}.${p.name}`, value: p.value })));
  }

  outputShape(inputShape: Shape): number[] {
    return this.layers.reduce<number[]>((shape, layer) => layer.outputShape(shape), [...inputShape]);
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    // In a scope, so that a layer that throws (a shape it refuses) strands nothing.
    return x.device.scope(() => {
      let current = x;
      for (const layer of this.layers) {
        const next = layer.forward(current, options);
        // Freed at once, not at the scope's end: the chain holds two activations, not all of them.
        if (current !== x) current.dispose();
        current = next;
      }
      return current;
    });
  }

  /**
   * Without `inputGradient`, the chain stops at the first layer that has parameters: the
   * parameter-free layers in front of it (a Flatten before an SLL block's first Linear) only
   * let go of what they kept, and that layer skips its input gradient, a product as large as
   * its weight gradient.
   */
  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    const wantInput = options.inputGradient === true;
    const stop = wantInput ? 0 : this.firstTrainable;
    const perLayer: Tensor[][] = new Array(this.layers.length);
    return dy.device.scope(() => {
      let grad = dy;
      for (let i = this.layers.length - 1; i >= 0; i--) {
        if (i < stop) {
          this.layers[i]!.release();
          perLayer[i] = [];
          continue;
        }
        const result = this.layers[i]!.backward(grad, { inputGradient: i > stop || wantInput });
        // Freed at once, not at the scope's end: one gradient of the chain alive at a time.
        if (grad !== dy) grad.dispose();
        perLayer[i] = result.params;
        if (i > stop || wantInput) {
          if (!result.input) throw new Error(`${this.name}: layer ${i} (${this.layers[i]!.name}) returned no input gradient though one was asked for`);
          grad = result.input;
        }
      }
      return wantInput ? { params: perLayer.flat(), input: grad } : { params: perLayer.flat() };
    });
  }

  release(): void {
    for (const layer of this.layers) layer.release();
  }

  dispose(): void {
    for (const layer of this.layers) layer.dispose();
  }
}
