/**
 * DGL, Decoupled Greedy Learning (Belilovsky, Eickenberg and Oyallon, ICML 2020): each block is
 * trained by the cross-entropy of its own learned auxiliary net, and no gradient crosses a
 * block. Which net a block gets is auxiliaryNet.ts's choice (one linear layer for feature rows,
 * the paper's MLP-aux for a conv stage's maps, layer norm and linear for a transformer block);
 * for a linear head, initialized as PyTorch's nn.Linear (U(-1/sqrt(d), 1/sqrt(d))):
 *
 *   z = u W^T + b                 W [K, d], b [K]
 *   L = CE(softmax z, y)          dL/dz = (softmax z - onehot(y)) / B
 *   dW = dz^T u,  db = sum_rows dz,  dL/du = dz W
 *
 * and for a deeper net, its layers' rules chained from dL/dz down to dL/du. dL/du is what the
 * block's own backward starts from; the block's input gradient is never computed.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { crossEntropy } from '../ops/loss.js';
import type { Seed } from '../ops/random.js';
import type { Parameter } from '../nn/layer.js';
import { AdaptiveAvgPool2d } from '../nn/adaptivePool.js';
import { Sequential } from '../nn/sequential.js';
import { auxiliaryNet, type AuxiliaryNet } from './auxiliaryNet.js';
import type { FeatureMapKind } from './config.js';
import { requireFeatures, WithoutRandomStream, type LocalLoss, type LocalLossResult } from './localLoss.js';

export interface DglHeadOptions {
  classes: number;
  /** Width d of the features u the head reads. */
  features: number;
  /** The block's phi and output shape (without the batch), which pick the auxiliary net; absent: a linear head. */
  featureMap?: FeatureMapKind;
  blockShape?: readonly number[];
  /** Seed of the head's initial weights. */
  seed: Seed;
  /** For error messages: 'block 3'. */
  label: string;
}

export class DglHead extends WithoutRandomStream implements LocalLoss {
  protected get who(): string {
    return `${this.options.label} DGL head`;
  }

  readonly hasHead = true;
  readonly auxiliary: AuxiliaryNet;

  constructor(
    readonly device: Device,
    readonly options: DglHeadOptions,
  ) {
    super();
    this.auxiliary = auxiliaryNet(device, options);
  }

  /** The weight and bias of the layer that gives the logits (the whole head when it is linear). */
  get weight(): Tensor {
    return this.auxiliary.output.weight;
  }

  get bias(): Tensor {
    return this.auxiliary.output.bias!;
  }

  /** The pooling matrix of a conv stage's net: fixed, never trained. */
  get fixedBytes(): number {
    const layers = this.auxiliary.net instanceof Sequential ? this.auxiliary.net.layers : [this.auxiliary.net];
    return layers.reduce((n, l) => n + (l instanceof AdaptiveAvgPool2d ? l.matrix.bytes : 0), 0);
  }

  parameters(): readonly Parameter[] {
    return this.auxiliary.net.parameters();
  }

  /** The running statistics of the net's batch norms (MLP-aux), saved with the parameters. */
  buffers(): readonly Parameter[] {
    return this.auxiliary.net.buffers?.() ?? [];
  }

  compute(u: Tensor, labels: Tensor, _logQ: Tensor | undefined, training: boolean): LocalLossResult {
    requireFeatures(u, this.options.features, this.who);
    const batch = u.shape[0]!;
    const scale = 1 / Math.max(batch, 1);
    const { net, inputShape } = this.auxiliary;
    return u.device.scope(() => {
      const z = net.forward(inputShape.length === 1 ? u : u.reshape([batch, ...inputShape]), { training });
      const ce = crossEntropy(z, labels, { scale, category: 'scratch' });
      const result: LocalLossResult = { likelihood: ce.loss, logits: z, headGradients: [] };
      if (training) {
        const grads = net.backward(ce.grad, { inputGradient: true });
        result.headGradients = grads.params;
        result.gradFeatures = inputShape.length === 1 ? grads.input! : grads.input!.reshape([batch, this.options.features]);
      }
      return result;
    });
  }

  dispose(): void {
    this.auxiliary.net.dispose();
  }
}
