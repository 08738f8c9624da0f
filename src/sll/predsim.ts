/**
 * PredSim, local error signals (Nøkland and Eidnes, "Training neural networks with local error
 * signals", ICML 2019): each block learns from a mix of a prediction loss (a learned linear head
 * to the classes, cross-entropy) and a similarity-matching loss (the cosine-similarity matrix of
 * a learned linear map of the block's output against that of the one-hot labels), as the
 * authors' code (`anokland/local-loss`, train.py) computes them:
 *
 *   z = u W^T + b                          the prediction head, W [K, d] starting at zero
 *   r = u P^T                              P [d, d], no bias (their `linear_loss`)
 *   S(x): c = x - rowmean(x),  x^ = c / (||c|| + 1e-8),  S = x^ x^T      [B, B]
 *   L = (1 - beta) CE(z, y) + beta mean_{i,j} (S(r) - S(onehot y))^2       beta = 0.99
 *
 * beta = 0 is the prediction loss alone (DGL with a linear head); beta = 1 the similarity alone.
 * Their code clamps S to [-1, 1]. By Cauchy-Schwarz every entry of S is at most
 * n_i n_j / ((n_i + eps)(n_j + eps)) < 1 in magnitude, so the clamp never binds in exact
 * arithmetic; it is left out here, forward and backward (in float32 a diagonal entry can round
 * to 1 + 1 ulp, where the clamp would zero that one entry's gradient).
 *
 * The derivative rule, by hand: dr from the similarity term as similarity.ts gives it, then
 *   dP  = dr^T u,  dL/du = dr P + (1 - beta) dz W,  dW = (1 - beta) dz^T u,  db = (1 - beta) sum_rows dz
 * with dz = (softmax z - onehot y) / B.
 *
 * That is the form for feature rows (MLP blocks, a transformer block's pooled token). A conv
 * stage's maps take the authors' conv form instead, in predsimConv.ts.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { gatherRows } from '../ops/copy.js';
import { add } from '../ops/elementwise.js';
import { crossEntropy } from '../ops/loss.js';
import { matmul } from '../ops/matmul.js';
import type { Seed } from '../ops/random.js';
import { sum } from '../ops/reduce.js';
import { initStream, uniformFanIn } from '../nn/init.js';
import type { Parameter } from '../nn/layer.js';
import { requireFeatures, WithoutRandomStream, type LocalLoss, type LocalLossResult } from './localLoss.js';
import { similarityMatchingGradient } from './similarity.js';
import { oneHotTable } from './oneHot.js';
import { PREDSIM_BETA_DEFAULT } from './trainingSettings.js';

export interface PredSimOptions {
  classes: number;
  /** Width d of the block's features u. */
  features: number;
  /** Weight of the similarity term, in [0, 1]. Default 0.99. */
  beta?: number;
  /** Seed of the head's bias and of P. */
  seed: Seed;
  /** For error messages: 'block 3'. */
  label: string;
}

export class PredSimLoss extends WithoutRandomStream implements LocalLoss {
  protected get who(): string {
    return `${this.options.label} PredSim loss`;
  }

  /** The prediction head [K, d], starting at zero (the authors zero it), and its bias [K]. */
  readonly weight: Tensor;
  readonly bias: Tensor;
  /** P [d, d], the learned map whose output's similarity matrix is matched. */
  readonly similarityWeight: Tensor;
  readonly beta: number;
  readonly hasHead = true;
  /** The identity [K, K], whose rows are the one-hot labels. */
  private readonly identity: Tensor;

  constructor(
    readonly device: Device,
    readonly options: PredSimOptions,
  ) {
    super();
    const { classes, features } = options;
    const beta = options.beta ?? PREDSIM_BETA_DEFAULT;
    if (!(beta >= 0 && beta <= 1)) throw new RangeError(`${this.who}: beta must be in [0, 1], got ${beta}`);
    this.beta = beta;
    const stream = initStream(device, options.seed);
    // As nn.Linear initializes them, but for the head's weight, which the authors set to zero.
    this.weight = device.zeros([classes, features], 'f32', 'parameter');
    this.bias = uniformFanIn(device, stream, [classes], features);
    this.similarityWeight = uniformFanIn(device, stream, [features, features], features);
    this.identity = oneHotTable(device, classes);
  }

  get fixedBytes(): number {
    return this.identity.bytes;
  }

  parameters(): readonly Parameter[] {
    return [
      { name: 'head.weight', value: this.weight },
      { name: 'head.bias', value: this.bias },
      { name: 'similarity.weight', value: this.similarityWeight },
    ];
  }

  compute(u: Tensor, labels: Tensor, _logQ: Tensor | undefined, training: boolean): LocalLossResult {
    requireFeatures(u, this.options.features, this.who);
    const batch = u.shape[0]!;
    const { beta } = this;
    return u.device.scope(() => {
      const z = matmul(u, this.weight, { transposeB: true, bias: this.bias, category: 'scratch' });
      const ce = crossEntropy(z, labels, { scale: (1 - beta) / Math.max(batch, 1), category: 'scratch' });
      const result: LocalLossResult = { likelihood: ce.loss, logits: z, headGradients: [] };
      if (!training) return result;
      const r = matmul(u, this.similarityWeight, { transposeB: true, category: 'scratch' });
      const dr = similarityMatchingGradient(r, gatherRows(this.identity, labels, 'scratch'), beta);
      r.dispose(); // freed now, not at the scope's end: the peak of the rule is then one [B, d] less
      result.headGradients = [matmul(ce.grad, u, { transposeA: true }), sum(ce.grad, [0]), matmul(dr, u, { transposeA: true })];
      result.gradFeatures = add(matmul(dr, this.similarityWeight, { category: 'scratch' }), matmul(ce.grad, this.weight, { category: 'scratch' }), 'scratch');
      return result;
    });
  }

  dispose(): void {
    for (const t of [this.weight, this.bias, this.similarityWeight, this.identity]) t.dispose();
  }
}
