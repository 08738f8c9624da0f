/**
 * DGL's auxiliary nets: what reads a block's features and predicts the classes, by the kind of
 * block (docs/algorithm.md, "Other local rules"). Each is an ordinary layer, so its derivative
 * rule is its layers' rules, written by hand where each layer is.
 *
 * - Feature rows (an MLP block, a CNN's fully connected block, a conv stage read through global
 *   average pooling): one linear layer to the classes, started as PyTorch's nn.Linear.
 * - A conv stage's whole output [C, H, W] (phi = flatten): the "MLP-aux" of the DGL paper
 *   (Belilovsky, Eickenberg and Oyallon, ICML 2020, section 5; `auxillary_classifier2` with
 *   aux_type 'mlp' in the authors' code, eugenium/DGL): adaptive average pooling to
 *   ceil(H/4) x ceil(W/4), then to 2 x 2, flattened to 4C features; three times linear 4C -> 4C,
 *   batch norm, ReLU; a linear layer to the classes.
 * - A transformer block's pooled token (phi = mean-token or cls-token): DGL has no transformer
 *   net, so the ViT's own classifier shape is taken: layer norm, then linear to the classes.
 */
import type { Device } from '../gpu/device.js';
import type { Seed } from '../ops/random.js';
import { AdaptiveAvgPool2d } from '../nn/adaptivePool.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm } from '../nn/batchNorm.js';
import { Flatten } from '../nn/flatten.js';
import type { Layer } from '../nn/layer.js';
import { Linear } from '../nn/linear.js';
import { LayerNorm } from '../nn/norm.js';
import { Sequential } from '../nn/sequential.js';
import { childSeed } from '../random/seeds.js';
import type { FeatureMapKind } from './config.js';

/** Hidden linear layers of DGL's MLP-aux. */
export const MLP_AUX_LAYERS = 3;

export interface AuxiliaryNetOptions {
  classes: number;
  /** Width d of the features u = phi(h) the net reads. */
  features: number;
  /** The block's phi; with 'flatten' and a [C, H, W] output, the net reads the stage's maps. */
  featureMap?: FeatureMapKind;
  /** The block's output shape without the batch ([C, H, W], [T, D] or [d]). */
  blockShape?: readonly number[];
  /** Seed of the initial weights (a linear head draws from it directly; deeper nets give each layer a child seed). */
  seed: Seed;
}

export interface AuxiliaryNet {
  /** The net, features to logits. */
  net: Layer;
  /** The shape (without the batch) the features are viewed as before the net: [C, H, W] for a conv stage's maps, else [d]. */
  inputShape: number[];
  /** The linear layer that gives the logits. */
  output: Linear;
  /** What the net is, for the run's description: 'linear', 'mlp-aux 128', 'layernorm + linear'. */
  description: string;
}

/** The auxiliary net of a block (see the file's header for which net each block gets). */
export function auxiliaryNet(device: Device, options: AuxiliaryNetOptions): AuxiliaryNet {
  const { classes, features, blockShape, featureMap, seed } = options;
  if (featureMap === 'flatten' && blockShape?.length === 3) {
    const [channels, height, width] = blockShape as [number, number, number];
    const pool = new AdaptiveAvgPool2d(device, [height, width], [
      [Math.ceil(height / 4), Math.ceil(width / 4)],
      [2, 2],
    ]);
    const hidden = channels * 4;
    const layers: Layer[] = [pool, new Flatten()];
    for (let j = 0; j < MLP_AUX_LAYERS; j++) layers.push(new Linear(device, hidden, hidden, { seed: childSeed(seed, j) }), new BatchNorm(device, hidden), new ReLU());
    const output = new Linear(device, hidden, classes, { seed: childSeed(seed, MLP_AUX_LAYERS) });
    return { net: new Sequential([...layers, output]), inputShape: [channels, height, width], output, description: `mlp-aux ${hidden}` };
  }
  if (featureMap === 'mean-token' || featureMap === 'cls-token') {
    const output = new Linear(device, features, classes, { seed: childSeed(seed, 1) });
    return { net: new Sequential([new LayerNorm(device, features), output]), inputShape: [features], output, description: 'layernorm + linear' };
  }
  const output = new Linear(device, features, classes, { seed });
  return { net: output, inputShape: [features], output, description: 'linear' };
}
