/**
 * The layer contract. Every layer owns its forward rule and, beside it, its hand-written
 * backward rule; nothing records operations across layers. SLL runs one block's rules at a
 * time; backprop chains the same rules block after block.
 *
 * Ownership: `forward` returns a new tensor the caller owns; the caller keeps owning `x`. In
 * training mode a layer keeps exactly what its backward needs in a SavedTensors (saved.ts: the
 * input as a second handle, `x.handle()`, so the caller may dispose its own) and lets go of it in
 * `backward` or `release`. `backward` returns gradients the caller owns and must dispose. Inside
 * a rule, temporaries are scoped with `device.scope`, which frees what the rule did not return.
 */
import type { Tensor } from '../gpu/tensor.js';
import type { Shape } from '../gpu/shape.js';
import { checkOptions, requireTensor, type OptionTable } from '../ops/checks.js';

export interface Parameter {
  /** 'weight', 'bias', 'gamma', ... unique within the layer. */
  readonly name: string;
  /** The values, in memory category 'parameter'. */
  readonly value: Tensor;
}

export interface ForwardOptions {
  /** Keep what backward needs, and apply training-only behaviour (dropout). Default true. */
  training?: boolean;
}

export interface BackwardOptions {
  /** Also compute dL/dx (SLL skips it for a block's input: part of its saving). Default false. */
  inputGradient?: boolean;
}

export interface Gradients {
  /** dL/d(parameter), aligned with `parameters()`. The caller disposes them. */
  params: Tensor[];
  /** dL/dx, when asked for. The caller disposes it. */
  input?: Tensor;
}

export interface Layer {
  /** What the layer is, for logs and errors ('linear 784->1000', 'relu'). */
  readonly name: string;
  parameters(): readonly Parameter[];
  /**
   * State that is not trained but must be saved with the parameters (a batch norm's running
   * statistics), by name; absent or empty for most layers. No optimizer steps it.
   */
  buffers?(): readonly Parameter[];
  /** The output shape for an input shape; throws a ShapeError naming the layer if it does not fit. */
  outputShape(inputShape: Shape): number[];
  forward(x: Tensor, options?: ForwardOptions): Tensor;
  backward(dy: Tensor, options?: BackwardOptions): Gradients;
  /** Lets go of what forward kept, without a backward (evaluation, an aborted step). */
  release(): void;
  /** Releases the parameters too. */
  dispose(): void;
}

/** Bytes of the parameters of some layers. */
export function parameterBytes(layers: readonly Layer[]): number {
  return layers.reduce((n, l) => n + l.parameters().reduce((m, p) => m + p.value.bytes, 0), 0);
}

const FORWARD_OPTIONS: OptionTable = { training: 'boolean' };
const BACKWARD_OPTIONS: OptionTable = { inputGradient: 'boolean' };

/**
 * What every layer's `forward` runs first: `x` must be a live Tensor and `options` a
 * ForwardOptions, or the error names the layer (its `name`), the operand and the option.
 */
export function checkForward(layer: string, x: unknown, options: unknown): asserts x is Tensor {
  requireTensor(layer, 'x', x);
  checkOptions(layer, options as ForwardOptions | undefined, FORWARD_OPTIONS);
}

/** What every layer's `backward` runs first: `dy` a live Tensor, `options` a BackwardOptions. */
export function checkBackward(layer: string, dy: unknown, options: unknown): asserts dy is Tensor {
  requireTensor(layer, 'dy', dy);
  checkOptions(layer, options as BackwardOptions | undefined, BACKWARD_OPTIONS);
}
