/**
 * The transformer encoder block of a ViT (pre-norm, as timm's `Block` and torchvision's
 * `EncoderBlock`), and its MLP.
 *
 * MLPBlock:  y = fc2(gelu(fc1(x))), fc1: dim -> hidden, fc2: hidden -> dim (exact GELU).
 *   Backward: the Linear rule of fc2, dh = dy_h * (Phi(h) + h phi(h)), the Linear rule of fc1.
 *
 * TransformerBlock, forward rule:
 *   x1 = x + MHSA(LN1(x))
 *   y  = x1 + MLP(LN2(x1))
 * Backward rule: a residual add y = a + f(a) sends dy both straight through and into the
 * branch, and the branch's input gradient is added to it:
 *   dx1 = dy + LN2'(MLP'(dy))          (the sublayers' rules, chained)
 *   dx  = dx1 + LN1'(MHSA'(dx1))       (only when asked: SLL skips it at a block input)
 * Parameter gradients come from the sublayers' rules on the way.
 *
 * Nothing is kept by the block itself: each sublayer keeps what its own rule needs (LN1 keeps
 * x, LN2 keeps x1, the attention and MLP keep their inputs and internals).
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { addInPlace } from '../ops/elementwise.js';
import type { Seed } from '../ops/random.js';
import { GELU } from './activation.js';
import { MultiHeadSelfAttention } from './attention.js';
import { childSeed } from '../random/seeds.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';
import { Linear } from './linear.js';
import { LayerNorm } from './norm.js';
import { Sequential } from './sequential.js';

export interface MLPBlockOptions {
  /** Seed of the initial weights (PyTorch's Linear default init, from the counter RNG). */
  seed: Seed;
}

export class MLPBlock implements Layer {
  readonly name: string;
  readonly fc1: Linear;
  readonly fc2: Linear;
  /** fc1, gelu, fc2: the chain of rules is Sequential's. */
  private readonly chain: Sequential;

  constructor(
    readonly device: Device,
    readonly dim: number,
    readonly hidden: number,
    options: MLPBlockOptions,
  ) {
    this.fc1 = new Linear(device, dim, hidden, { seed: childSeed(options.seed, 0) });
    this.fc2 = new Linear(device, hidden, dim, { seed: childSeed(options.seed, 1) });
    this.chain = new Sequential([this.fc1, new GELU(), this.fc2]);
    this.name = `mlp ${dim}->${hidden}->${dim}`;
  }

  parameters(): readonly Parameter[] {
    return [
      ...this.fc1.parameters().map((p) => ({ name: `fc1.${p.name}`, value: p.value })),
      ...this.fc2.parameters().map((p) => ({ name: `fc2.${p.name}`, value: p.value })),
    ];
  }

  outputShape(inputShape: Shape): number[] {
    if (inputShape.length < 1 || inputShape[inputShape.length - 1] !== this.dim) {
      throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} must end in ${this.dim} features`);
    }
    return [...inputShape];
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    this.outputShape(x.shape);
    return this.chain.forward(x, options);
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    return this.chain.backward(dy, options);
  }

  release(): void {
    this.chain.release();
  }

  dispose(): void {
    this.chain.dispose();
  }
}

export interface TransformerBlockOptions {
  dim: number;
  heads: number;
  /** Hidden width of the MLP as a multiple of dim (ViT: 4). Default 4. */
  mlpRatio?: number;
  /** LayerNorm eps. Default 1e-5 (PyTorch; timm and torchvision ViTs use 1e-6). */
  eps?: number;
  seed: Seed;
}

export class TransformerBlock implements Layer {
  readonly name: string;
  readonly dim: number;
  readonly norm1: LayerNorm;
  readonly attention: MultiHeadSelfAttention;
  readonly norm2: LayerNorm;
  readonly mlp: MLPBlock;
  /** The shape of the last training-mode forward's input (and output), to check dy against. */
  private forwardShape: number[] | undefined;

  constructor(
    readonly device: Device,
    options: TransformerBlockOptions,
  ) {
    const { dim, heads, mlpRatio = 4, eps } = options;
    const hidden = Math.round(dim * mlpRatio);
    if (!(hidden >= 1)) throw new RangeError(`transformer block: mlpRatio ${mlpRatio} gives no hidden units for dim ${dim}`);
    this.dim = dim;
    this.norm1 = new LayerNorm(device, dim, { eps });
    this.attention = new MultiHeadSelfAttention(device, dim, heads, { seed: childSeed(options.seed, 0) });
    this.norm2 = new LayerNorm(device, dim, { eps });
    this.mlp = new MLPBlock(device, dim, hidden, { seed: childSeed(options.seed, 1) });
    this.name = `transformer ${dim} x${heads} mlp ${hidden}`;
  }

  private get sublayers(): Array<[string, Layer]> {
    return [
      ['norm1', this.norm1],
      ['attn', this.attention],
      ['norm2', this.norm2],
      ['mlp', this.mlp],
    ];
  }

  parameters(): readonly Parameter[] {
    return this.sublayers.flatMap(([prefix, layer]) => layer.parameters().map((p) => ({ name: `${prefix}.${p.name}`, value: p.value })));
  }

  outputShape(inputShape: Shape): number[] {
    if (inputShape.length !== 3 || inputShape[2] !== this.dim || inputShape[1]! < 1) {
      throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} must be tokens [N, T, ${this.dim}] with T >= 1`);
    }
    return [...inputShape];
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    this.outputShape(x.shape);
    this.forwardShape = (options.training ?? true) ? [...x.shape] : undefined;
    return x.device.scope(() => {
      // x1 = x + MHSA(LN1(x)): the branch output is ours, so the residual is added into it.
      const x1 = this.branch(this.attention, this.norm1.forward(x, options), options);
      addInPlace(x1, x);
      // y = x1 + MLP(LN2(x1)); x1 itself is freed when the scope ends.
      const y = this.branch(this.mlp, this.norm2.forward(x1, options), options);
      addInPlace(y, x1);
      return y;
    });
  }

  /**
   * layer.forward(input), then frees input at once rather than at the scope's end, so that a
   * normalised copy of the tokens is not alive beside the MLP's wide hidden layer (the layer
   * keeps its own view of input if its backward needs it).
   */
  private branch(layer: Layer, input: Tensor, options: ForwardOptions): Tensor {
    const output = layer.forward(input, options);
    input.dispose();
    return output;
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    const shape = this.forwardShape;
    if (!shape) throw new Error(`${this.name}: backward without a training-mode forward`);
    if (!shapesEqual(dy.shape, shape)) {
      throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output ${formatShape(shape)}`);
    }
    this.forwardShape = undefined;
    return dy.device.scope(() => {
      // dx1 = dy + LN2'(MLP'(dy)). Each branch's input gradient is freed as soon as it is used
      // (not at the scope's end), so at most two [N, T, D] gradients are alive at once.
      const mlpGrads = this.mlp.backward(dy, { inputGradient: true });
      const norm2Grads = this.norm2.backward(mlpGrads.input!, { inputGradient: true });
      mlpGrads.input!.dispose();
      const dx1 = norm2Grads.input!;
      addInPlace(dx1, dy);
      // dx = dx1 + LN1'(MHSA'(dx1)); LN1's rule is the last, so it needs dx only when asked.
      const attentionGrads = this.attention.backward(dx1, { inputGradient: true });
      const norm1Grads = this.norm1.backward(attentionGrads.input!, { inputGradient: options.inputGradient });
      attentionGrads.input!.dispose();
      const params = [...norm1Grads.params, ...attentionGrads.params, ...norm2Grads.params, ...mlpGrads.params];
      if (!options.inputGradient) return { params };
      const dx = norm1Grads.input!;
      addInPlace(dx, dx1);
      return { params, input: dx };
    });
  }

  release(): void {
    this.forwardShape = undefined;
    for (const [, layer] of this.sublayers) layer.release();
  }

  dispose(): void {
    for (const [, layer] of this.sublayers) layer.dispose();
  }
}
