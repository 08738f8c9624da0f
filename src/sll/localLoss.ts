/**
 * What a block's local learning rule gives the per-block sweep of the trainer: a loss of the
 * block's features (or of its output, through phi), its gradient at those features, and the
 * gradients of the rule's own parameters (a learned head), with the logits a block's head
 * predicts with. SLL's LocalObjective (objective.ts), DGL's auxiliary nets (dglHead.ts), DRTP's
 * target projection (drtp.ts), PredSim's loss (predsim.ts, predsimConv.ts) and Forward-Forward's
 * (forwardForward.ts) are its implementations: the sweep, the memory release, the optimizer
 * steps, the non-finite guard and the metrics stay in the trainer, whatever the rule
 * (docs/algorithm.md, "Other local rules").
 */
import { ShapeError } from '../gpu/errors.js';
import { formatShape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import type { Parameter } from '../nn/layer.js';

export interface LocalLossResult {
  /** Per-sample loss of the rule's prediction, [B] (SLL: -log p(y | h); DGL, PredSim: the head's cross-entropy; Forward-Forward: each pair's loss); absent for a rule without a head (DRTP). */
  likelihood?: Tensor;
  /** Per-row alignment term, [B] (SLL with alignment only). */
  alignment?: Tensor;
  /** What the next block aligns with (SLL's log pi), when the rule passes anything on. */
  logPi?: Tensor;
  /** What the block's head predicts with, [B, K] (Forward-Forward: each pair's goodness, [B, 2]); absent for a rule without a head. */
  logits?: Tensor;
  /** What the logits' arg-max is counted right against, when not the labels (Forward-Forward's pairs: column 0, the positive row). */
  accuracyLabels?: Tensor;
  /** dL/du at the features, [rows, d] (training only; Forward-Forward's rows are 2B). */
  gradFeatures?: Tensor;
  /** Gradients of the rule's parameters, aligned with parameters() (training only). */
  headGradients: Tensor[];
}

export interface LocalLoss {
  /** Whether the rule has a head that predicts (and a loss to report): SLL, DGL, PredSim and Forward-Forward do, DRTP does not. */
  readonly hasHead: boolean;
  /** Trainable parameters of the rule itself (a learned head), stepped with the block's optimizer. */
  parameters(): readonly Parameter[];
  /** State of the rule that no optimizer steps but a checkpoint keeps (the running statistics of a head's batch norms); absent for most rules. */
  buffers?(): readonly Parameter[];
  /** The rule's loss of features u [B, d]; `logQ` is what the previous block passed on (SLL's alignment). */
  compute(u: Tensor, labels: Tensor, logQ: Tensor | undefined, training: boolean): LocalLossResult;
  /** Position of the rule's random stream (dropout), for checkpoints; 0 for a rule without one. */
  dropoutOffset: number;
  /** Bytes of fixed (untrained) tensors the rule holds: SLL's projections. */
  readonly fixedBytes: number;
  dispose(): void;
}

/** Throws unless u is [batch, features], naming the rule and its block ('block 2 DGL head'). */
export function requireFeatures(u: Tensor, features: number, who: string): void {
  if (u.rank !== 2 || u.shape[1] !== features) throw new ShapeError(`${who}: features ${formatShape(u.shape)} must be [batch, ${features}]`);
}

/** The dropoutOffset of a rule that draws no random numbers while training: always 0, and only 0 restores. */
export abstract class WithoutRandomStream {
  protected abstract readonly who: string;

  get dropoutOffset(): number {
    return 0;
  }

  set dropoutOffset(offset: number) {
    if (offset !== 0) throw new RangeError(`${this.who} has no random stream, so its offset must be 0, got ${offset}`);
  }
}
