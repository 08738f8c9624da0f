/**
 * Multi-head self-attention, as a ViT's (timm's `Attention`): one qkv projection, H heads of
 * scaled dot-product attention, an output projection. No mask, no attention dropout.
 *
 * Forward rule (x [N, T, C], C = H D):
 *   [q | k | v] = x Wqkv^T + bqkv                  [N, T, 3C], viewed [N, T, 3, H, D]
 *   q, k, v     = its (3) slices as [N, H, T, D]   (views + one copy each)
 *   O           = softmax(q k^T / sqrt(D)) v       [N, H, T, D]  ('fused': online softmax,
 *                                                   keeps the per-row log-sum-exp L; 'matmul':
 *                                                   general kernels, keeps P)
 *   M           = O merged back to [N, T, C]       (transpose H and T)
 *   y           = M Wo^T + bo
 * Backward rule, in reverse:
 *   dWo, dbo, dM = the Linear rule of the output projection
 *   dO           = dM split into heads (the transpose back)
 *   dq, dk, dv   = attentionBackward: with P recomputed from q, k and L (or kept),
 *                  dv = P^T dO, dS = P (dO v^T - rowsum(dO * O)), dq = dS k / sqrt(D),
 *                  dk = dS^T q / sqrt(D)
 *   dqkv         = dq, dk, dv written back into [N, T, 3, H, D] (the transpose of the split)
 *   dWqkv, dbqkv, dx = the Linear rule of the qkv projection
 *
 * What is kept: q, k, v and L (the attention kernels' inputs) or P ([N, H, T, T], with the
 * 'matmul' kernel, which CPU adapters run faster), and M, which the output projection keeps
 * anyway (O is read back from it as a view, so it costs nothing extra).
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { attention, attentionBackward, chooseAttentionKernel, MAX_ATTENTION_HEAD_DIM, type AttentionGradients, type AttentionKernel } from '../ops/attention.js';
import { attentionByMatmul, attentionByMatmulBackward } from '../ops/attentionMatmul.js';
import { copy, copyInto } from '../ops/copy.js';
import type { Seed } from '../ops/random.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';
import { SavedTensors } from './saved.js';
import { childSeed } from '../random/seeds.js';
import { Linear } from './linear.js';

/** The view of dense `t` reshaped to `shape`, then permuted (the intermediate view let go). */
function permuteAs(t: Tensor, shape: Shape, axes: readonly number[]): Tensor {
  return t.device.scope(() => t.reshape(shape).permute(axes));
}

export interface MultiHeadSelfAttentionOptions {
  /** Seed of the initial projections (PyTorch's Linear default init, from the counter RNG). */
  seed: Seed;
  /** How the heads are computed; default: chooseAttentionKernel (the faster one on this adapter). */
  kernel?: AttentionKernel;
}

export class MultiHeadSelfAttention implements Layer {
  readonly name: string;
  readonly headDim: number;
  /** x -> [q | k | v]: dim -> 3 dim, as timm's `qkv` (rows of the weight: q, then k, then v; heads in order). */
  readonly qkv: Linear;
  /** Merged heads -> output: dim -> dim, as timm's `proj`. */
  readonly proj: Linear;
  readonly kernel: AttentionKernel;
  /**
   * [q, k, v, logSumExp, merged] after a training-mode forward ('fused'), or
   * [q, k, v, probabilities, merged] ('matmul').
   */
  private readonly saved = new SavedTensors<[Tensor, Tensor, Tensor, Tensor, Tensor]>(() => this.name);

  constructor(
    readonly device: Device,
    readonly dim: number,
    readonly heads: number,
    options: MultiHeadSelfAttentionOptions,
  ) {
    if (!Number.isInteger(dim) || !Number.isInteger(heads) || dim < 1 || heads < 1 || dim % heads !== 0) {
      throw new RangeError(`attention: dim ${dim} must be a positive multiple of heads ${heads}`);
    }
    this.headDim = dim / heads;
    if (this.headDim > MAX_ATTENTION_HEAD_DIM) {
      throw new RangeError(`attention: head dim ${this.headDim} (dim ${dim} / ${heads} heads) is over the kernels' ${MAX_ATTENTION_HEAD_DIM}`);
    }
    this.name = `attention ${dim} x${heads}`;
    this.kernel = options.kernel ?? chooseAttentionKernel(device);
    this.qkv = new Linear(device, dim, 3 * dim, { seed: childSeed(options.seed, 0) });
    this.proj = new Linear(device, dim, dim, { seed: childSeed(options.seed, 1) });
  }

  parameters(): readonly Parameter[] {
    return [
      ...this.qkv.parameters().map((p) => ({ name: `qkv.${p.name}`, value: p.value })),
      ...this.proj.parameters().map((p) => ({ name: `proj.${p.name}`, value: p.value })),
    ];
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
    this.release();
    const training = options.training ?? true;
    const [n, t] = x.shape as [number, number, number];
    const { heads, headDim: d, dim } = this;

    // Each stage in its own scope, so that what it no longer needs is freed before the next; the
    // whole in one, so that what evaluation does not keep is freed at its end.
    return this.device.scope(() => {
      const [q, k, v] = this.device.scope(() => {
        // [N, T, 3, H, D] -> [3, N, H, T, D]: slice s of axis 0 is q, k or v as the kernel wants it.
        const split = permuteAs(this.qkv.forward(x, options), [n, t, 3, heads, d], [2, 0, 3, 1, 4]);
        return [0, 1, 2].map((s) => copy(split.slice(0, s, s + 1)).reshape([n, heads, t, d]));
      }) as [Tensor, Tensor, Tensor];
      const { saved, merged } = this.device.scope(() => {
        const { out, saved } = this.attend(q, k, v);
        // [N, H, T, D] -> [N, T, H, D] -> [N, T, C]
        return { saved, merged: copy(out.permute([0, 2, 1, 3])).reshape([n, t, dim]) };
      });
      const y = this.proj.forward(merged, options);
      if (training) this.saved.save(q, k, v, saved, merged);
      return y;
    });
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    const [q, k, v, saved, merged] = this.saved.get();
    if (!shapesEqual(dy.shape, merged.shape)) {
      throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output ${formatShape(merged.shape)}`);
    }
    const [n, t] = merged.shape as [number, number, number];
    const { heads, headDim: d } = this;
    const toHeads = (m: Tensor) => permuteAs(m, [n, t, heads, d], [0, 2, 1, 3]);

    return this.saved.consume(() => this.device.scope(() => {
      const projGrads = this.proj.backward(dy, { inputGradient: true });
      const dqkv = this.device.scope(() => {
        const grads: AttentionGradients = this.device.scope(() => {
          const dOut = toHeads(projGrads.input!);
          // O, as attentionBackward wants it, is the merged activation seen per head (a view;
          // the op makes the dense copy it needs, as scratch).
          return this.kernel === 'matmul' ? attentionByMatmulBackward(dOut, q, k, v, saved) : attentionBackward(dOut, q, k, v, toHeads(merged), saved);
        });
        projGrads.input!.dispose(); // freed now, before dqkv is made, not at the scope's end
        // The transpose of the split: dq, dk, dv into their places of [N, T, 3, H, D].
        const dqkv = this.device.empty([n, t, 3, heads, d]);
        const places = dqkv.permute([2, 0, 3, 1, 4]);
        [grads.dq, grads.dk, grads.dv].forEach((g, s) => copyInto(places.slice(0, s, s + 1), g.reshape([1, n, heads, t, d])));
        return dqkv.reshape([n, t, 3 * this.dim]);
      });
      const qkvGrads = this.qkv.backward(dqkv, { inputGradient: options.inputGradient });
      const params = [...qkvGrads.params, ...projGrads.params];
      return qkvGrads.input ? { params, input: qkvGrads.input } : { params };
    }));
  }

  /** O per head, and what the backward pass needs: the log-sum-exp or the probabilities. */
  private attend(q: Tensor, k: Tensor, v: Tensor): { out: Tensor; saved: Tensor } {
    if (this.kernel === 'matmul') {
      const { out, probabilities } = attentionByMatmul(q, k, v);
      return { out, saved: probabilities };
    }
    const { out, logSumExp } = attention(q, k, v);
    return { out, saved: logSumExp };
  }

  release(): void {
    this.saved.release();
    this.qkv.release();
    this.proj.release();
  }

  dispose(): void {
    this.release();
    this.qkv.dispose();
    this.proj.dispose();
  }
}
