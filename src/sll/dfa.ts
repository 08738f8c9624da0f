/**
 * DFA, Direct Feedback Alignment (Nøkland, "Direct Feedback Alignment Provides Learning in Deep
 * Neural Networks", NeurIPS 2016), here as a labelled extra beside the local rules: every hidden
 * block's learning signal is the network's output error sent through a fixed random matrix of
 * its own,
 *
 *   dL/dh_k = e B_k             e = dL/dlogits [B, K] (softmax minus one-hot, over the batch),
 *                               B_k fixed [K, d_k]
 *   delta_k = dL/dh_k * f'(a_k) (the block's own backward: its activation, then its linear layer)
 *
 * so no gradient crosses a block, but no block can step before the output exists: the forward
 * pass keeps every block's saved tensors until the error comes back, and its activation memory
 * grows with depth as backprop's does (docs/algorithm.md; the memory sweep shows it). DRTP
 * (drtp.ts) is the same wiring with the one-hot target in place of e, which is what lets it
 * update each block during the forward sweep. B_k is drawn as DRTP's is, U(-sqrt(6 / d_k),
 * sqrt(6 / d_k)); the classifier learns from its own cross-entropy, as every method's does here.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { matmul } from '../ops/matmul.js';
import type { Seed } from '../ops/random.js';
import { initStream } from '../nn/init.js';

export interface DfaOptions {
  classes: number;
  /** Width d of the block's output, where the signal arrives. */
  features: number;
  /** Seed of the fixed matrix B. */
  seed: Seed;
}

export class DfaFeedback {
  /** B [K, d]: fixed, never trained. */
  readonly projection: Tensor;

  constructor(
    readonly device: Device,
    readonly options: DfaOptions,
  ) {
    const bound = Math.sqrt(6 / options.features);
    this.projection = initStream(device, options.seed).uniform([options.classes, options.features], { low: -bound, high: bound, category: 'projection' });
  }

  get fixedBytes(): number {
    return this.projection.bytes;
  }

  /** e B [B, d] for the output error e [B, K]. */
  signal(outputError: Tensor): Tensor {
    return matmul(outputError, this.projection, { category: 'scratch' });
  }

  dispose(): void {
    this.projection.dispose();
  }
}
