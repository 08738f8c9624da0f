/**
 * DRTP, Direct Random Target Projection (Frenkel, Lefebvre and Bol, "Learning without feedback",
 * Frontiers in Neuroscience 2021): a hidden block's learning signal is the one-hot target sent
 * through a fixed random matrix of its own, so no block waits for the output, nothing is
 * learned by a head, and the sweep's memory stays flat. As the authors' code does it
 * (DirectRandomTargetProjection, function.py and module.py), the signal replaces dL/dh at the
 * block's output:
 *
 *   dL/dh_k = y* B_k            y* one-hot [B, K], B_k fixed [K, d_k]: the label's row of B_k
 *   delta_k = dL/dh_k * f'(a_k) (the block's own backward: its activation, then its linear layer)
 *
 * B_k is drawn as PyTorch's kaiming_uniform_ draws a [K, d_k] tensor: U(-sqrt(6 / d_k),
 * sqrt(6 / d_k)). The signal is summed over the batch, not averaged (the authors' choice; Adam,
 * the default optimizer here, is nearly blind to that scale). The output classifier learns from
 * its own cross-entropy, as every method's does here. The block has no loss and no head of its
 * own: its metrics are the classifier's, as under backprop. On a conv stage the signal arrives
 * where the authors' hook sits, at the last convolution's activation before the pooling, with
 * B_k [K, C H W] of that activation's size (the trainer runs the stage's body and its pooling
 * apart: rules.ts, readsBeforePooling).
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { gatherRows } from '../ops/copy.js';
import type { Seed } from '../ops/random.js';
import { initStream } from '../nn/init.js';
import type { Parameter } from '../nn/layer.js';
import { requireFeatures, WithoutRandomStream, type LocalLoss, type LocalLossResult } from './localLoss.js';

export interface DrtpOptions {
  classes: number;
  /** Width d of the block's features, where the signal arrives. */
  features: number;
  /** Seed of the fixed matrix B. */
  seed: Seed;
  /** For error messages: 'block 3'. */
  label: string;
}

export class DrtpSignal extends WithoutRandomStream implements LocalLoss {
  protected get who(): string {
    return `${this.options.label} DRTP signal`;
  }

  readonly hasHead = false;
  /** B [K, d]: fixed, never trained. */
  readonly projection: Tensor;

  constructor(
    readonly device: Device,
    readonly options: DrtpOptions,
  ) {
    super();
    const bound = Math.sqrt(6 / options.features);
    this.projection = initStream(device, options.seed).uniform([options.classes, options.features], { low: -bound, high: bound, category: 'projection' });
  }

  get fixedBytes(): number {
    return this.projection.bytes;
  }

  parameters(): readonly Parameter[] {
    return [];
  }

  compute(u: Tensor, labels: Tensor, _logQ: Tensor | undefined, training: boolean): LocalLossResult {
    requireFeatures(u, this.options.features, this.who);
    // The label's row of B for every sample: y* B without a one-hot or a matmul.
    return { headGradients: [], ...(training ? { gradFeatures: gatherRows(this.projection, labels, 'scratch') } : {}) };
  }

  dispose(): void {
    this.projection.dispose();
  }
}
