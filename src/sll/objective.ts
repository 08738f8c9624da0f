/**
 * A block's local objective, with its analytic gradient (docs/algorithm.md, "The local
 * objective" and "Analytic gradients"):
 *
 *   u' = u * m / (1 - p)                    dropout on the projection's input only
 *   v  = u' R^T                             R fixed, [d0, d]
 *   pi = softmax(v / tau)
 *   class mode:  L_like = CE(pi, y)                    dL/dv = (pi - onehot(y)) / tau
 *   latent mode: z = v C^T + c, L_like = CE(softmax z)  dL/dz = softmax(z) - onehot(y)
 *                                                       dL/dv = dL/dz C, dC = dz^T v, dc = sum dz
 *   L_align = D_B(pi, q) = -log sum sqrt(pi q)          dL/dv += (pi - r) / (2 tau)
 *   dL/du' = dL/dv R,  dL/du = dL/du' * m / (1 - p)
 *
 * Everything is divided by the batch size once, where the mean is taken (the losses' `scale`).
 * The block's input gradient is never computed: that is the caller's business (it does not).
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { addInPlace, affine, mul } from '../ops/elementwise.js';
import { bhattacharyya, crossEntropy, sllClassLoss } from '../ops/loss.js';
import { matmul } from '../ops/matmul.js';
import { RandomStream, type Seed } from '../ops/random.js';
import { sum } from '../ops/reduce.js';
import { logSoftmax } from '../ops/softmax.js';
import { initStream, uniformFanIn } from '../nn/init.js';
import type { Parameter } from '../nn/layer.js';
import { checkObjectiveConfig, type LocalObjectiveConfig } from './config.js';
import { createProjection } from './projection.js';
import type { LocalLoss } from './localLoss.js';

export interface ObjectiveResult {
  /** Per-row -log p(y | h), [B]. */
  likelihood: Tensor;
  /** Per-row D_B(pi, q), [B]; absent when alignment is off or there is no q. */
  alignment?: Tensor;
  /** log pi, [B, d0]: the next block's log q. */
  logPi: Tensor;
  /** What the local head predicts with, [B, K] (v in class mode, z in latent mode). */
  logits: Tensor;
  /** dL/du, [B, d] (training only). */
  gradFeatures?: Tensor;
  /** Gradients of the latent head's C and c, aligned with parameters() (training only). */
  headGradients: Tensor[];
}

export interface ObjectiveOptions {
  config: LocalObjectiveConfig;
  classes: number;
  /** Width d of the features u this objective reads. */
  features: number;
  projectionSeed: Seed;
  /** Seed of the latent head's initial weights. */
  headSeed: Seed;
  /** Seed of the dropout masks. */
  dropoutSeed: Seed;
  /** For error messages: 'block 3'. */
  label: string;
}

export class LocalObjective implements LocalLoss {
  readonly config: LocalObjectiveConfig;
  readonly hasHead = true;
  readonly projection: Tensor;
  readonly headWeight: Tensor | undefined;
  readonly headBias: Tensor | undefined;
  private readonly dropoutStream: RandomStream;

  constructor(
    readonly device: Device,
    readonly options: ObjectiveOptions,
  ) {
    this.config = options.config;
    checkObjectiveConfig(this.config, options.classes, options.label);
    this.projection = createProjection(device, this.config.d0, options.features, this.config, options.projectionSeed);
    if (this.config.mode === 'latent') {
      const stream = initStream(device, options.headSeed);
      this.headWeight = uniformFanIn(device, stream, [options.classes, this.config.d0], this.config.d0);
      this.headBias = uniformFanIn(device, stream, [options.classes], this.config.d0);
    }
    this.dropoutStream = new RandomStream(device, options.dropoutSeed);
  }

  /** The latent head's trainable parameters (none in class mode). */
  parameters(): readonly Parameter[] {
    return this.headWeight ? [{ name: 'head.weight', value: this.headWeight }, { name: 'head.bias', value: this.headBias! }] : [];
  }

  /** The fixed projection's bytes. */
  get fixedBytes(): number {
    return this.projection.bytes;
  }

  /** Position of the dropout stream (for checkpoints). */
  get dropoutOffset(): number {
    return this.dropoutStream.offset;
  }

  set dropoutOffset(offset: number) {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`${this.options.label}: dropout offset ${offset} is not a non-negative safe integer`);
    this.dropoutStream.offset = offset;
  }

  /**
   * The local loss of features u [B, d] against labels, aligned to logQ (the previous block's
   * log posterior, a constant) when given. With `training`, also the gradients.
   */
  compute(u: Tensor, labels: Tensor, logQ: Tensor | undefined, training: boolean): ObjectiveResult {
    const { config, options } = this;
    if (u.rank !== 2 || u.shape[1] !== options.features) {
      throw new ShapeError(`${options.label} objective: features ${formatShape(u.shape)} must be [batch, ${options.features}]`);
    }
    const batch = u.shape[0]!;
    const scale = 1 / Math.max(batch, 1);
    const useAlignment = config.alignment && logQ !== undefined && config.alignmentWeight > 0;
    // Everything but the result is scratch, freed when the scope ends.
    return u.device.scope(() => {
      // Dropout: the features passed on to the next block are never dropped, only these.
      const mask = training && config.dropout > 0 ? affine(this.dropoutStream.bernoulli(u.shape, { p: 1 - config.dropout, category: 'scratch' }), 1 / (1 - config.dropout), 0, 'scratch') : undefined;
      const v = matmul(mask ? mul(u, mask, 'scratch') : u, this.projection, { transposeB: true, category: 'scratch' });
      const result: ObjectiveResult = { likelihood: undefined as unknown as Tensor, logPi: undefined as unknown as Tensor, logits: v, headGradients: [] };
      let gradV: Tensor | undefined;

      if (config.mode === 'class') {
        if (useAlignment && config.likelihoodWeight === 1 && config.alignmentWeight === 1) {
          const fused = sllClassLoss(v, labels, logQ!, { tau: config.tau, scale, category: 'scratch' });
          Object.assign(result, { likelihood: fused.likelihood, alignment: fused.alignment, logPi: fused.logPi });
          gradV = fused.grad;
        } else {
          const ce = crossEntropy(v, labels, { temperature: config.tau, scale: scale * config.likelihoodWeight, category: 'scratch' });
          result.likelihood = ce.loss;
          gradV = ce.grad;
          result.logPi = logSoftmax(v, { temperature: config.tau, category: 'scratch' });
          if (useAlignment) this.addAlignment(v, logQ!, scale, result, gradV);
        }
      } else {
        const z = matmul(v, this.headWeight!, { transposeB: true, bias: this.headBias, category: 'scratch' });
        result.logits = z;
        const ce = crossEntropy(z, labels, { scale: scale * config.likelihoodWeight, category: 'scratch' });
        result.likelihood = ce.loss;
        result.logPi = logSoftmax(v, { temperature: config.tau, category: 'scratch' });
        if (training) {
          result.headGradients = [matmul(ce.grad, v, { transposeA: true }), sum(ce.grad, [0])];
          gradV = matmul(ce.grad, this.headWeight!, { category: 'scratch' });
        }
        if (useAlignment) this.addAlignment(v, logQ!, scale, result, gradV);
      }

      if (training && gradV) {
        const gradDropped = matmul(gradV, this.projection, { category: 'scratch' });
        result.gradFeatures = mask ? mul(gradDropped, mask, 'scratch') : gradDropped;
      }
      return result;
    });
  }

  /** L_align and its gradient, added into gradV (when training). Runs in compute's scope. */
  private addAlignment(v: Tensor, logQ: Tensor, scale: number, result: ObjectiveResult, gradV: Tensor | undefined): void {
    const align = bhattacharyya(v, logQ, { tau: this.config.tau, scale: scale * this.config.alignmentWeight, category: 'scratch' });
    result.alignment = align.loss;
    if (gradV) addInPlace(gradV, align.grad);
  }

  dispose(): void {
    this.projection.dispose();
    this.headWeight?.dispose();
    this.headBias?.dispose();
  }
}
