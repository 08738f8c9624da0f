/**
 * DGL, Decoupled Greedy Learning (Belilovsky, Eickenberg and Oyallon, ICML 2020): each block is
 * trained by the cross-entropy of its own learned auxiliary head, and no gradient crosses a
 * block. For an MLP block the head is one linear layer from the block's features to the classes,
 * initialized as PyTorch's nn.Linear (U(-1/sqrt(d), 1/sqrt(d)) for weights and biases):
 *
 *   z = u W^T + b                 W [K, d], b [K]
 *   L = CE(softmax z, y)          dL/dz = (softmax z - onehot(y)) / B
 *   dW = dz^T u,  db = sum_rows dz,  dL/du = dz W
 *
 * dL/du is what the block's own backward starts from; its input gradient is never computed.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { crossEntropy } from '../ops/loss.js';
import { matmul } from '../ops/matmul.js';
import type { Seed } from '../ops/random.js';
import { sum } from '../ops/reduce.js';
import { initStream, uniformFanIn } from '../nn/init.js';
import type { Parameter } from '../nn/layer.js';
import { requireFeatures, WithoutRandomStream, type LocalLoss, type LocalLossResult } from './localLoss.js';

export interface DglHeadOptions {
  classes: number;
  /** Width d of the features u the head reads. */
  features: number;
  /** Seed of the head's initial weights. */
  seed: Seed;
  /** For error messages: 'block 3'. */
  label: string;
}

export class DglHead extends WithoutRandomStream implements LocalLoss {
  protected get who(): string {
    return `${this.options.label} DGL head`;
  }

  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly fixedBytes = 0;
  readonly hasHead = true;

  constructor(
    readonly device: Device,
    readonly options: DglHeadOptions,
  ) {
    super();
    const stream = initStream(device, options.seed);
    this.weight = uniformFanIn(device, stream, [options.classes, options.features], options.features);
    this.bias = uniformFanIn(device, stream, [options.classes], options.features);
  }

  parameters(): readonly Parameter[] {
    return [
      { name: 'weight', value: this.weight },
      { name: 'bias', value: this.bias },
    ];
  }

  compute(u: Tensor, labels: Tensor, _logQ: Tensor | undefined, training: boolean): LocalLossResult {
    requireFeatures(u, this.options.features, this.who);
    const scale = 1 / Math.max(u.shape[0]!, 1);
    return u.device.scope(() => {
      const z = matmul(u, this.weight, { transposeB: true, bias: this.bias, category: 'scratch' });
      const ce = crossEntropy(z, labels, { scale, category: 'scratch' });
      const result: LocalLossResult = { likelihood: ce.loss, logits: z, headGradients: [] };
      if (training) {
        result.headGradients = [matmul(ce.grad, u, { transposeA: true }), sum(ce.grad, [0])];
        result.gradFeatures = matmul(ce.grad, this.weight, { category: 'scratch' });
      }
      return result;
    });
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}
